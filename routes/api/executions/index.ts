import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import {
  Accepted, ExecutionIdParams, ExecutionList, ExecutionListQuery, ExecutionRecord, errorResponses, ref
} from '../../../schemas/index.js'
import { ExecutionRunningError, InvalidInputError } from '../../../services/errors.js'
import { isFinished } from '../../../services/executions/status.js'
import { recordFor } from '../../../services/executions/visibility.js'

const executions: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, executions: service } = fastify

  fastify.get('/executions', {
    config: { scope: 'read' },
    schema: { summary: 'List executions, newest first', querystring: ExecutionListQuery, response: { 200: ExecutionList, ...errorResponses } }
  }, async (request) => {
    for (const key of ['since', 'until'] as const) {
      const value = request.query[key]
      // RFC 3339 allows what Date cannot read (a leap second): refuse it rather than guess.
      if (value !== undefined && Number.isNaN(Date.parse(value))) throw new InvalidInputError(`${key} ${JSON.stringify(value)} is not a usable date`)
    }
    const page = await store.list(request.query)
    const full = request.hasScope('expert')
    return { ...page, executions: page.executions.map((r) => recordFor(r, full)) }
  })

  fastify.get('/executions/:id', {
    config: { scope: 'read' },
    schema: { summary: 'An execution record', params: ExecutionIdParams, response: { 200: ref(ExecutionRecord), ...errorResponses } }
  }, async (request) => recordFor(await service.record(request.params.id), request.hasScope('expert')))

  fastify.delete('/executions/:id', {
    config: { scope: 'execute' },
    schema: { summary: 'Delete a finished execution and its output', params: ExecutionIdParams, response: { 204: Type.Null(), ...errorResponses } }
  }, async (request, reply) => {
    const record = await service.record(request.params.id)
    if (!isFinished(record.status)) throw new ExecutionRunningError(record.id)
    await store.delete(record.id)
    return reply.code(204).send(null)
  })

  fastify.post('/executions/:id/cancel', {
    config: { scope: 'execute', emptyBody: true },
    schema: { summary: 'Cancel a running or queued execution', params: ExecutionIdParams, response: { 202: ref(Accepted), ...errorResponses } }
  }, async (request, reply) => {
    const record = await service.cancel(request.params.id)
    return reply.code(202).send({ executionId: record.id, status: record.status, streamUrl: `/api/executions/${record.id}/stream` })
  })
}

export default executions
