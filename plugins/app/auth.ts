import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { ForbiddenError } from '../../services/errors.js'
import { MAX_TICKETS, MAX_TICKETS_PER_HOLDER, MemoryTicketStore, type TicketStore } from '../../services/auth/stream-tickets.js'
import { Authenticator, type Principal, type Scope } from '../../services/auth/tokens.js'
import { RedisTicketStore } from '../../services/auth/redis-ticket-store.js'
import { connectRedis } from '../../services/store/redis-connection.js'

declare module 'fastify' {
  interface FastifyInstance {
    auth: Authenticator
    /** Single-use stream tickets for EventSource clients. */
    streamTickets: TicketStore
  }
  interface FastifyRequest {
    /** Who the request acts for, set by the access check on every /api route. */
    principal: Principal | null
    /** Whether the request's principal has `scope`. */
    hasScope: (scope: Scope) => boolean
    /** Throws 403 unless the request's principal has `scope`; `what` says what needed it. */
    requireScope: (scope: Scope, what: string) => void
  }
}

// The credentials: API tokens (hashes only) and stream tickets. The check on each route is the
// access-control plugin, registered after the rate limiter so failed attempts count too.

export default fp(async function auth (fastify) {
  const { config } = fastify
  const authenticator = new Authenticator(config.authTokens)
  const limits = { ttlMs: config.streamTicketTtlMs, maxPerHolder: MAX_TICKETS_PER_HOLDER, maxTotal: MAX_TICKETS }
  // STORE=redis: a ticket issued by one replica opens a stream on any.
  const redis = config.store === 'redis' ? await connectRedis(config.redisUrl, 'bolt-stream-tickets') : null
  const tickets: TicketStore = redis === null
    ? new MemoryTicketStore(limits)
    : new RedisTicketStore(redis, { ...limits, prefix: config.redisKeyPrefix })
  fastify.decorate('auth', authenticator)
  fastify.decorate('streamTickets', tickets)
  fastify.decorateRequest('principal', null)
  fastify.decorateRequest('hasScope', function (this: FastifyRequest, scope: Scope): boolean {
    return this.principal?.scopes.has(scope) === true
  })
  fastify.decorateRequest('requireScope', function (this: FastifyRequest, scope: Scope, what: string): void {
    if (this.principal?.scopes.has(scope) !== true) throw ForbiddenError(scope, what)
  })

  if (authenticator.open) {
    fastify.log.warn('NO API TOKENS CONFIGURED (AUTH_TOKENS, AUTH_TOKENS_FILE): the API is OPEN. Anyone who can reach this port can run commands on the fleet and read every output. Configure tokens before exposing the service.')
  } else {
    fastify.log.info({ tokens: authenticator.tokenCount, sources: config.authSources }, 'API tokens loaded; /api requires Authorization: Bearer')
  }
  fastify.addHook('onClose', async () => {
    tickets.close()
    await redis?.quit().catch(() => redis.disconnect())
  })
}, { name: 'auth', fastify: '5.x', dependencies: ['config', 'error-handler'] })
