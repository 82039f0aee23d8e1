import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { Authenticator, principalOf, type Authentication, type Principal, type Scope } from '../../services/auth/tokens.js'
import { ForbiddenError, InvalidTicketError, InvalidTokenError, TokenInUrlError, UnauthorizedError } from '../../services/errors.js'
import { MemoryTicketStore, type TicketStore } from '../../services/auth/stream-tickets.js'

declare module 'fastify' {
  interface FastifyInstance {
    auth: Authenticator
    /** Single-use stream tickets for EventSource clients. */
    streamTickets: TicketStore
  }
  interface FastifyRequest {
    /** Who the request acts for, set by the auth hook on every /api route. */
    principal: Principal | null
  }
  interface FastifyContextConfig {
    /** The scope a route needs; every /api route must say (checked at start-up). 'public': none. */
    scope?: Scope | 'public'
    /** The route also admits a stream ticket (`?ticket=`) instead of the header. */
    ticket?: boolean
  }
}

/** Query parameters that would carry a credential in the URL, which is never accepted. */
const CREDENTIAL_PARAMS = ['access_token', 'token', 'bearer', 'authorization', 'api_key', 'apikey']
/** Query parameters whose values never reach the logs. */
const SECRET_PARAMS = new Set(['ticket', ...CREDENTIAL_PARAMS])
/** Outstanding tickets per holder and in all (each is about 200 bytes). */
export const MAX_TICKETS_PER_HOLDER = 1000
const MAX_TICKETS = 100_000

/** The URL with the values of ticket and credential parameters replaced, for logs. */
export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const query = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq)
    let decoded = name
    try { decoded = decodeURIComponent(name.replace(/\+/g, ' ')) } catch { /* logged as it came */ }
    return SECRET_PARAMS.has(decoded.toLowerCase()) ? `${name}=[REDACTED]` : pair
  })
  return `${url.slice(0, q)}?${query.join('&')}`
}

/** The identity that per-client limits count against: the token's name, or the address. */
export function clientKey (request: FastifyRequest, principal: Principal | null = request.principal): string {
  return principal?.name != null ? `token:${principal.name}` : `address:${request.ip}`
}

const authentications = new WeakMap<FastifyRequest, Authentication>()

/**
 * The request's `Authorization` header checked against the tokens, once per request: the rate
 * limiter (which runs first, to key POSTs) and the auth hook share the result.
 */
export function authenticateRequest (authenticator: Authenticator, request: FastifyRequest): Authentication {
  let result = authentications.get(request)
  if (result === undefined) {
    result = authenticator.authenticate(request.headers.authorization)
    authentications.set(request, result)
  }
  return result
}

/** Throws 403 unless the request's principal has `scope`. */
export function requireScope (request: FastifyRequest, scope: Scope, what: string): void {
  if (request.principal?.scopes.has(scope) !== true) throw ForbiddenError(scope, what)
}

export default fp(async function auth (fastify) {
  const { config } = fastify
  const authenticator = new Authenticator(config.authTokens)
  const tickets = new MemoryTicketStore({ ttlMs: config.streamTicketTtlMs, maxPerHolder: MAX_TICKETS_PER_HOLDER, maxTotal: MAX_TICKETS })
  fastify.decorate('auth', authenticator)
  fastify.decorate('streamTickets', tickets)
  fastify.decorateRequest('principal', null)

  if (authenticator.open) {
    fastify.log.warn('NO API TOKENS CONFIGURED (AUTH_TOKENS, AUTH_TOKENS_FILE): the API is OPEN. Anyone who can reach this port can run commands on the fleet and read every output. Configure tokens before exposing the service.')
  } else {
    fastify.log.info({ tokens: authenticator.tokenCount, sources: config.authSources }, 'API tokens loaded; /api requires Authorization: Bearer')
  }

  const authenticate = async (request: FastifyRequest): Promise<void> => {
    const { scope, ticket: ticketAllowed } = request.routeOptions.config
    if (scope === undefined || scope === 'public') return
    const query = request.query as Record<string, unknown>
    for (const name of Object.keys(query)) {
      if (CREDENTIAL_PARAMS.includes(name.toLowerCase())) throw new TokenInUrlError()
    }
    const header = request.headers.authorization
    const ticket = query.ticket
    let principal: Principal
    if (ticketAllowed === true && header === undefined && ticket !== undefined) {
      if (typeof ticket !== 'string') throw new InvalidTicketError('Give one ticket')
      const id = (request.params as { id?: string }).id ?? ''
      const redeemed = await tickets.redeem(ticket, id)
      if (!redeemed.ok) {
        throw new InvalidTicketError(redeemed.reason === 'expired'
          ? 'The stream ticket has expired; ask for a new one'
          : redeemed.reason === 'other-execution'
            ? 'The stream ticket was issued for another execution (it is now used up)'
            : 'The stream ticket is not valid (unknown, or already used)')
      }
      principal = principalOf(redeemed.grant.name, redeemed.grant.scopes)
    } else {
      const result = authenticateRequest(authenticator, request)
      if (!result.ok) {
        if (result.reason === 'missing') throw new UnauthorizedError()
        throw new InvalidTokenError(result.reason === 'malformed'
          ? 'The Authorization header must be "Bearer <token>"'
          : 'The token is not valid')
      }
      principal = result.principal
    }
    request.principal = principal
    if (!principal.scopes.has(scope)) throw ForbiddenError(scope, 'this request')
  }

  // Every /api route gets the check as its own onRequest hook, after those added before it (the
  // rate limiter's: failed attempts count against the caller too). Fail closed: an /api route
  // that does not say which scope it needs stops start-up.
  fastify.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (!route.url.startsWith('/api') || methods.every((m) => m === 'OPTIONS')) return
    if (route.config?.scope === undefined) throw new Error(`route ${methods.join(',')} ${route.url} does not declare its scope`)
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
    route.onRequest = [...own, authenticate]
  })

  fastify.addHook('onClose', async () => tickets.close())
}, { name: 'auth', fastify: '5.x', dependencies: ['config', 'error-handler'] })
