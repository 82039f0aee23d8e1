import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { launch } from '../operation-route.js'
import { Accepted, TaskBody, errorResponses } from '../../../schemas/index.js'

const tasks: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/tasks', {
    config: { scope: 'execute' },
    schema: { summary: 'Run a Bolt task on the targets', body: TaskBody, response: { 202: Accepted, ...errorResponses } }
  }, async (request, reply) => {
    const { targets, task, params, expertMode = false } = request.body
    return launch(fastify, request, reply, { type: 'task', targets, task, params }, expertMode)
  })
}

export default tasks
