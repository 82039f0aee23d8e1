import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Health } from '../../schemas/index.js'

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  // Liveness: the process answers. It never depends on Bolt, so a missing Bolt does not
  // get the pod restarted in a loop.
  fastify.get('/health/live', { schema: { response: { 200: Health } } }, async () => ({ status: 'ok' }))

  // Under load it answers 503 (plugins/external/under-pressure.ts): the pod leaves the Service
  // until it recovers, without being restarted.
  fastify.get('/health/ready', { config: { shedsLoad: true }, schema: { response: { 200: Health, 503: Health } } }, async (request, reply) => {
    if (fastify.executions.isDraining) return reply.code(503).send({ status: 'draining', reason: 'The service is shutting down' })
    try {
      await fastify.store.checkWritable()
    } catch (err) {
      request.log.error({ err }, 'history store cannot be written')
      return reply.code(503).send({ status: 'not_ready', reason: `The history store cannot be written: ${(err as Error).message}` })
    }
    const bolt = fastify.boltStatus()
    if (bolt.state === 'ok') return { status: 'ready', boltVersion: bolt.version }
    return reply.code(503).send({
      status: 'not_ready',
      reason: bolt.state === 'unknown' ? 'Bolt has not been checked yet' : bolt.message
    })
  })
}

export default health
