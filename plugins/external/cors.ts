import fastifyCors from '@fastify/cors'
import fp from 'fastify-plugin'

/** Every method the API answers (DELETE removes an execution; HEAD and OPTIONS come with GET and CORS). */
export const CORS_METHODS = ['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS']
/** Request headers the API reads. */
export const CORS_ALLOWED_HEADERS = ['Content-Type', 'Authorization', 'Last-Event-ID']
/**
 * Response headers the API documents, beyond the ones a browser always shows: where a new
 * execution is, when to retry after a 429, why a token was refused, and the rate limiter's count.
 */
export const CORS_EXPOSED_HEADERS = [
  'Location', 'Retry-After', 'WWW-Authenticate', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'
]

// Browsers on other origins (CORS_ORIGINS); unset, no CORS headers at all.
export default fp(async function cors (fastify) {
  const origins = fastify.config.corsOrigins
  if (origins.length === 0) return
  await fastify.register(fastifyCors, {
    origin: origins.includes('*') ? '*' : origins,
    methods: CORS_METHODS,
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    // Browsers may cache a preflight this long (seconds) instead of asking before every request.
    maxAge: 600
  })
}, { name: 'cors', fastify: '5.x', dependencies: ['config'] })
