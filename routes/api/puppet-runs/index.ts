import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { launch } from '../operation-route.js'
import { Accepted, PuppetRunBody, errorResponses } from '../../../schemas/index.js'

const puppetRuns: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/puppet-runs', {
    config: { scope: 'execute' },
    schema: { summary: 'Run the Puppet agent on the targets', body: PuppetRunBody, response: { 202: Accepted, ...errorResponses } }
  }, async (request, reply) => {
    const { targets, noop, environment, tags, expertMode = false } = request.body
    return launch(fastify, request, reply, { type: 'puppet', targets, noop, environment, tags }, expertMode)
  })
}

export default puppetRuns
