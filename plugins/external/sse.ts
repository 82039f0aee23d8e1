import { fastifySSE } from '@fastify/sse'
import fp from 'fastify-plugin'

// @fastify/sse gives the stream route its response head (text/event-stream, no-cache,
// X-Accel-Buffering) and close handling (`reply.sse.onClose`, `keepAlive`, `close`). Frames,
// heartbeats, negotiation and backpressure are ours (services/streaming/).
export default fp(async function sse (fastify) {
  await fastify.register(fastifySSE)
}, { name: 'sse', fastify: '5.x' })
