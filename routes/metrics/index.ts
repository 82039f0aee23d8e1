import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { errorResponses } from '../../schemas/index.js'

// GET /metrics on the API's port, unless METRICS_PORT gives the metrics a listener of their own.
const metricsRoute: FastifyPluginAsyncTypebox = async (fastify) => {
  const { metrics, config } = fastify
  if (metrics === null || config.metricsPort !== 0) return
  fastify.get('/metrics', {
    config: { scope: 'read' },
    schema: {
      summary: 'Prometheus metrics (text exposition format)',
      response: {
        200: { description: 'The metrics', content: { 'text/plain': { schema: Type.String() } } },
        401: errorResponses[401],
        403: errorResponses[403]
      }
    }
  }, async (_request, reply) => reply.type(metrics.contentType).send(await metrics.exposition()))
}

export default metricsRoute
