import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ExecutionNotFoundError, InvalidInputError } from '../services/errors.js'
import {
  Accepted, ExecutionIdParams, ExecutionRecordSchema, ExecutionStatusSchema, ExecutionTypeSchema, errorResponses
} from './schemas.js'

const executions: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/executions', {
    schema: {
      summary: 'List executions, newest first',
      querystring: Type.Object({
        status: Type.Optional(ExecutionStatusSchema),
        type: Type.Optional(ExecutionTypeSchema),
        limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
        cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 }))
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ executions: Type.Array(ExecutionRecordSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
        ...errorResponses
      }
    }
  }, async (request) => fastify.store.list(request.query))

  fastify.get('/executions/:id', {
    schema: { summary: 'An execution record', params: ExecutionIdParams, response: { 200: ExecutionRecordSchema, ...errorResponses } }
  }, async (request) => {
    const record = await fastify.store.get(request.params.id)
    if (record === undefined) throw new ExecutionNotFoundError(request.params.id)
    return record
  })

  fastify.post('/executions/:id/cancel', {
    schema: {
      summary: 'Cancel a running execution',
      params: ExecutionIdParams,
      // No body schema: JSON Schema cannot allow an absent body (what `curl -X POST` sends),
      // so the handler accepts none, null or {} and refuses anything else.
      response: { 202: Accepted, ...errorResponses }
    }
  }, async (request, reply) => {
    const body: unknown = request.body
    if (body !== undefined && body !== null &&
        (typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length > 0)) {
      throw new InvalidInputError('cancel takes no body (or an empty object)')
    }
    const record = await fastify.executions.cancel(request.params.id)
    return reply.code(202).send({ executionId: record.id, status: record.status, streamUrl: `/api/executions/${record.id}/stream` })
  })
}

export default executions
