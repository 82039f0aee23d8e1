import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { DiscoveryNameParams, discoveryErrorResponses, ItemList, PlanDetail, RefreshQuery, ref } from '../../../schemas/index.js'

// `GET /api/plans` and `GET /api/plans/:name`: what `bolt plan show` reports. Running a plan
// (`POST /api/plans`) belongs beside this file, as tasks/index.ts beside tasks/discovery.ts.
const planDiscovery: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/plans', {
    config: { scope: 'read', countsRefresh: true },
    schema: { summary: 'The plans Bolt lists', querystring: RefreshQuery, response: { 200: ItemList, ...discoveryErrorResponses } }
  }, async (request) => fastify.discovery.plans(request.query.refresh === true))

  fastify.get('/plans/:name', {
    config: { scope: 'read', countsRefresh: true },
    schema: {
      summary: "A plan's description and parameters",
      params: DiscoveryNameParams,
      querystring: RefreshQuery,
      response: { 200: ref(PlanDetail), ...discoveryErrorResponses }
    }
  }, async (request) => fastify.discovery.plan(request.params.name, request.query.refresh === true))
}

export default planDiscovery
