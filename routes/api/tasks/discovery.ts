import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { DiscoveryNameParams, discoveryErrorResponses, ItemList, RefreshQuery, ref, TaskDetail } from '../../../schemas/index.js'

// `GET /api/tasks` and `GET /api/tasks/:name`: what `bolt task show` reports (POST /api/tasks, in
// index.ts, runs one).
const taskDiscovery: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/tasks', {
    config: { scope: 'read', countsRefresh: true },
    schema: { summary: 'The tasks Bolt lists', querystring: RefreshQuery, response: { 200: ItemList, ...discoveryErrorResponses } }
  }, async (request) => fastify.discovery.tasks(request.query.refresh === true))

  fastify.get('/tasks/:name', {
    config: { scope: 'read', countsRefresh: true },
    schema: {
      summary: "A task's description, parameters and options",
      params: DiscoveryNameParams,
      querystring: RefreshQuery,
      response: { 200: ref(TaskDetail), ...discoveryErrorResponses }
    }
  }, async (request) => fastify.discovery.task(request.params.name, request.query.refresh === true))
}

export default taskDiscovery
