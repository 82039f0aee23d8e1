import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ErrorRef, EventsPage, EventsQuery, ExecutionIdParams, OutputQuery, errorResponses } from '../../../schemas/index.js'
import { InvalidEventIdError } from '../../../services/errors.js'
import { visibleEvents } from '../../../services/executions/events-page.js'
import { exactResult, outputText, resultText } from '../../../services/executions/output-text.js'

// What an execution logged: its events page by page, and its output as text.
const logs: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store, executions: service } = fastify

  fastify.get('/executions/:id/output', {
    config: { scope: 'read' },
    schema: {
      summary: 'The captured output as text/plain',
      description: 'With `target`, once the execution has ended: that target\'s text as Bolt\'s result document has it ' +
        '(`X-Output-Source: result`) where its result holds it whole; else, or with `source=live`, the live log (`X-Output-Source: live`).',
      params: ExecutionIdParams,
      querystring: OutputQuery,
      response: { 200: Type.String({ description: 'text/plain' }), ...errorResponses }
    }
  }, async (request, reply) => {
    // It is nothing but raw output.
    request.requireScope('expert', 'the raw output')
    const record = await service.record(request.params.id)
    const { stream, target, source } = request.query
    // After the end, a target's text is Bolt's own where its result holds it; else the live log.
    const exact = exactResult(record, target, source)
    reply.header('x-output-source', exact !== null ? 'result' : 'live')
    // Streamed, so a large output is never held whole; a stream bypasses the 200 serializer.
    const body = Readable.from(exact !== null ? resultText(exact, stream) : outputText(store, record, stream, target))
    return reply.type('text/plain; charset=utf-8').send(body as unknown as string)
  })

  fastify.get('/executions/:id/events', {
    config: { scope: 'read' },
    schema: {
      summary: 'The logged events after a cursor, for clients that do not speak SSE',
      params: ExecutionIdParams,
      querystring: EventsQuery,
      response: { 200: EventsPage, 400: ErrorRef, 401: ErrorRef, 403: ErrorRef, 404: ErrorRef }
    }
  }, async (request) => {
    const record = await service.record(request.params.id)
    const { after, limit } = request.query
    const last = await fastify.streaming.lastSeq(record.id)
    if (after > last) throw new InvalidEventIdError(`after ${after} is beyond this execution's last event (${last})`)
    return visibleEvents(store, record.id, after, limit, request.hasScope('expert'))
  })
}

export default logs
