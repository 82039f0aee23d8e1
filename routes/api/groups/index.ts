import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { discoveryErrorResponses, GroupList, RefreshQuery } from '../../../schemas/index.js'

// `GET /api/groups`: the inventory's groups (`bolt group show`).
const groups: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/groups', {
    config: { scope: 'read', countsRefresh: true },
    schema: { summary: 'The inventory groups', querystring: RefreshQuery, response: { 200: GroupList, ...discoveryErrorResponses } }
  }, async (request) => fastify.discovery.groups(request.query.refresh === true))
}

export default groups
