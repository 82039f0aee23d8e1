import fp from 'fastify-plugin'
import { REQUEST_ID_HEADER } from '../../services/http/request-id.js'

// Every answer says which request it was (the caller's X-Request-Id when valid, else ours), streams
// and errors included: set before anything else runs.
export default fp(async function requestIdHeader (fastify) {
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id)
  })
}, { name: 'request-id', fastify: '5.x' })
