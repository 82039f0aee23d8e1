import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { launch } from '../operation-route.js'
import { Accepted, PackageBody, errorResponses } from '../../../schemas/index.js'

const packages: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/packages', {
    config: { scope: 'execute' },
    schema: {
      summary: 'Install, remove, upgrade or inspect a package (the package task)',
      body: PackageBody,
      response: { 202: Accepted, ...errorResponses }
    }
  }, async (request, reply) => {
    const { targets, name, action = 'install', version, expertMode = false } = request.body
    return launch(fastify, request, reply, { type: 'package', targets, name, action, version }, expertMode)
  })
}

export default packages
