import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Accepted, ExecutionIdParams, RerunBody, errorResponses, ref } from '../../../schemas/index.js'
import { rerunSpec } from '../../../services/executions/rerun.js'
import { launch } from '../operation-route.js'

// A re-run is a new execution of the same type, action, parameters and mode, on all the
// original's targets or on those that did not succeed; its record points back with `rerunOf`.
const rerun: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/executions/:id/rerun', {
    config: { scope: 'execute', shedsLoad: true },
    // `curl -X POST …/rerun` sends no body at all: that is the default selection.
    preValidation: async (request) => { request.body ??= {} },
    schema: {
      summary: 'Run an execution again, on all its targets or on the failed ones',
      params: ExecutionIdParams,
      body: RerunBody,
      response: { 202: ref(Accepted), ...errorResponses }
    }
  }, async (request, reply) => {
    const original = await fastify.executions.record(request.params.id)
    const spec = rerunSpec(original, request.body.targets ?? 'all')
    return launch(fastify, request, reply, spec, { expertMode: original.expertMode, rerunOf: original.id })
  })
}

export default rerun
