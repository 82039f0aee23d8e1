import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { requireScope } from '../../plugins/app/auth.js'
import type { OperationSpec } from '../../services/bolt/arguments.js'

/**
 * Shared by the execution routes: records the execution, registers its streaming callbacks
 * (through the buffering hook, only in expert mode) and answers 202 while it runs.
 */
export async function launch (fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply, spec: OperationSpec, expertMode: boolean) {
  // Expert mode streams the command line and raw output: only for tokens that may see them.
  if (expertMode) requireScope(request, 'expert', 'expertMode: true')
  const execution = await fastify.executions.create(spec, expertMode, request.principal?.name ?? null)
  const id = execution.record.id
  const callbacks = expertMode
    ? fastify.outputBuffering.wrap(fastify.streaming.callbacksFor(id))
    : undefined
  fastify.executions.run(execution, callbacks)
  return reply.code(202).header('location', `/api/executions/${id}`).send({
    executionId: id,
    status: execution.record.status,
    streamUrl: `/api/executions/${id}/stream`
  })
}
