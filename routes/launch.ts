import type { FastifyInstance, FastifyReply } from 'fastify'
import type { OperationSpec } from '../services/bolt-args.js'

/**
 * Shared by the execution routes: records the execution, registers its streaming callbacks
 * (through the buffering hook, only in expert mode) and answers 202 while it runs.
 */
export async function launch (fastify: FastifyInstance, reply: FastifyReply, spec: OperationSpec, expertMode: boolean) {
  const execution = await fastify.executions.create(spec, expertMode)
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
