import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { launch } from '../operation-route.js'
import { Accepted, CommandBody, errorResponses } from '../../../schemas/index.js'

const commands: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/commands', {
    config: { scope: 'execute' },
    schema: { summary: 'Run a shell command on the targets', body: CommandBody, response: { 202: Accepted, ...errorResponses } }
  }, async (request, reply) => {
    const { targets, command, expertMode = false } = request.body
    return launch(fastify, request, reply, { type: 'command', targets, command }, expertMode)
  })
}

export default commands
