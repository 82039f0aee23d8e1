import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Static, TObject } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Accepted, errorResponses, ref } from '../../schemas/index.js'
import type { OperationSpec } from '../../services/bolt/arguments.js'

/** What one operation route is: its path, its body, and how the body becomes an operation. */
export interface OperationDefinition<Body extends TObject> {
  url: string
  summary: string
  body: Body
  toSpec: (body: Static<Body>) => OperationSpec
}

const response = { 202: ref(Accepted), ...errorResponses }

/**
 * Starts an operation for a request: records the execution, registers its streaming callbacks
 * (through the buffering hook, in expert mode only) and answers 202 while it runs.
 */
export async function launch (
  fastify: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  spec: OperationSpec,
  options: { expertMode: boolean, rerunOf?: string }
): Promise<FastifyReply> {
  const { expertMode } = options
  // Expert mode streams the command line and raw output: only for tokens that may see them.
  if (expertMode) request.requireScope('expert', 'expertMode: true')
  const execution = await fastify.executions.create(spec, { expertMode, requestedBy: request.principal?.name ?? null, rerunOf: options.rerunOf })
  const id = execution.record.id
  // The line that ties the request's id to the execution's.
  request.log.info({ executionId: id, type: spec.type, status: execution.record.status }, 'execution accepted')
  const callbacks = expertMode ? fastify.outputBuffering.wrap(fastify.streaming.callbacksFor(id)) : undefined
  fastify.executions.run(execution, callbacks)
  return reply.code(202).header('location', `/api/executions/${id}`).send({
    executionId: id,
    status: execution.record.status,
    streamUrl: `/api/executions/${id}/stream`
  })
}

/** The plugin of one operation route (commands, tasks, Puppet runs, packages). */
export function operationRoute<Body extends TObject> (definition: OperationDefinition<Body>): FastifyPluginAsyncTypebox {
  const schema: { summary: string, body: TObject, response: typeof response } = { summary: definition.summary, body: definition.body, response }
  return async (fastify) => {
    fastify.post(definition.url, { config: { scope: 'execute', shedsLoad: true }, schema }, async (request, reply) => {
      const body = request.body as Static<Body> & { expertMode?: boolean }
      return launch(fastify, request, reply, definition.toSpec(body), { expertMode: body.expertMode === true })
    })
  }
}
