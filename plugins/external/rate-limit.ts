import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { clientKey } from '../../services/auth/client-key.js'
import { connectRedis } from '../../services/store/redis-connection.js'

// POSTs start and cancel executions, and `?refresh=true` makes a discovery route run Bolt: each
// client gets so many of them per window. Other reads and streams have their own bounds
// (MAX_STREAMS_PER_CLIENT, the discovery cache).
declare module 'fastify' {
  interface FastifyContextConfig {
    /** A GET whose `?refresh=true` runs Bolt: such requests count like POSTs. */
    countsRefresh?: boolean
  }
}

const asksRefresh = (request: FastifyRequest): boolean => {
  if (request.routeOptions.config.countsRefresh !== true) return false
  // Counted as sent, before validation: any value but `false` (an invalid one is a 400 anyway).
  const refresh = (request.query as Record<string, unknown> | undefined)?.refresh
  return refresh !== undefined && refresh !== 'false'
}

export default fp(async function rateLimiter (fastify) {
  const { config, auth } = fastify
  const uncounted = (request: FastifyRequest): boolean => request.method !== 'POST' && !asksRefresh(request)
  // STORE=redis: the replicas count together. While Redis is away requests are not counted; a
  // POST then fails on the store (503) anyway.
  const redis = config.store === 'redis' ? await connectRedis(config.redisUrl, 'bolt-stream-rate-limit') : null
  if (redis !== null) fastify.addHook('onClose', async () => { await redis.quit().catch(() => redis.disconnect()) })
  await fastify.register(rateLimit, {
    ...(redis === null ? {} : { redis, nameSpace: `${config.redisKeyPrefix}rate-limit:`, skipOnError: true }),
    max: config.rateLimitMax,
    // Per token when one is given (a valid one), else per address; runs before the access check,
    // so failed attempts count against the address.
    keyGenerator: (request) => {
      if (uncounted(request)) return ''
      const result = auth.authenticateOnce(request, request.headers.authorization)
      return clientKey(request.ip, result.ok ? result.principal : null)
    },
    timeWindow: config.rateLimitWindowMs,
    allowList: uncounted,
    errorResponseBuilder: (_request, context) => Object.assign(
      new Error(`Too many requests: at most ${context.max} per ${Math.round(config.rateLimitWindowMs / 1000)} s; retry in ${context.after}`),
      { statusCode: 429, code: 'BOLT_STREAM_RATE_LIMITED' })
  })
}, { name: 'rate-limit', fastify: '5.x', dependencies: ['config', 'auth'] })
