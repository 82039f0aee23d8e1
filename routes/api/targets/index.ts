import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { discoveryErrorResponses, TargetList, TargetsQuery } from '../../../schemas/index.js'

// `GET /api/targets[?group=]`: the inventory (`bolt inventory show --detail`) without connection settings.
const targets: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/targets', {
    config: { scope: 'read', countsRefresh: true },
    schema: {
      summary: 'The inventory targets, without their connection settings',
      querystring: TargetsQuery,
      response: { 200: TargetList, ...discoveryErrorResponses }
    }
  }, async (request) => fastify.discovery.targets(request.query.group, request.query.refresh === true))
}

export default targets
