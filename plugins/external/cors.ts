import fastifyCors from '@fastify/cors'
import fp from 'fastify-plugin'

// Browsers on other origins (CORS_ORIGINS); unset, no CORS headers at all.
export default fp(async function cors (fastify) {
  const origins = fastify.config.corsOrigins
  if (origins.length === 0) return
  await fastify.register(fastifyCors, {
    origin: origins.includes('*') ? '*' : origins,
    exposedHeaders: ['Location'],
    allowedHeaders: ['Content-Type', 'Last-Event-ID', 'Authorization']
  })
}, { name: 'cors', fastify: '5.x', dependencies: ['config'] })
