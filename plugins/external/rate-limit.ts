import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { clientKey } from '../../services/auth/client-key.js'

// POSTs start and cancel executions: each client gets so many per window. Reads and streams
// have their own bounds (MAX_STREAMS_PER_CLIENT).
export default fp(async function rateLimiter (fastify) {
  const { config, auth } = fastify
  const uncounted = (request: FastifyRequest): boolean => request.method !== 'POST'
  await fastify.register(rateLimit, {
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
