import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { clientKey, MAX_TICKETS_PER_HOLDER, requireScope } from '../../../plugins/app/auth.js'
import {
  ExecutionNotFoundError, ExecutionRunningError, InvalidEventIdError, InvalidInputError, TooManyTicketsError
} from '../../../services/errors.js'
import { eventFor, recordFor } from '../../../services/executions/visibility.js'
import type { ExecutionStore } from '../../../services/store/execution-store.js'
import { isFinished, type ExecutionRecord, type OutputEventData } from '../../../services/types.js'
import { TARGET_PATTERN } from '../../../services/bolt/input-rules.js'
import {
  Accepted, ErrorResponse, ExecutionEventSchema, ExecutionIdParams, ExecutionRecordSchema, ExecutionStatusSchema,
  ExecutionTypeSchema, errorResponses
} from '../../../schemas/index.js'

/** Largest page of the events API. */
const MAX_EVENTS_PAGE = 1000
const OUTPUT_PAGE = 500

/** For POSTs without a body schema (JSON Schema cannot allow an absent body): none, null or {}. */
function emptyBody (body: unknown, what: string): void {
  if (body !== undefined && body !== null &&
      (typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length > 0)) {
    throw new InvalidInputError(`${what} takes no body (or an empty object)`)
  }
}

async function recordOr404 (store: ExecutionStore, id: string): Promise<ExecutionRecord> {
  const record = await store.get(id)
  if (record === undefined) throw new ExecutionNotFoundError(id)
  return record
}

/**
 * The captured output as text: the logged output events, in order, or for an execution that
 * did not stream its output (expertMode off), the targets' results. Lines carry a `[target] `
 * prefix (`[bolt] ` for Bolt's own messages) unless one target was asked for.
 */
async function * outputText (store: ExecutionStore, record: ExecutionRecord, stream?: string, target?: string): AsyncGenerator<string> {
  const prefix = target === undefined
    ? (who: string | null, text: string) => text.replace(/^(?=.)/gm, `[${who ?? 'bolt'}] `)
    : (_who: string | null, text: string) => text
  let after = 0
  let logged = false
  for (;;) {
    const events = await store.readEvents(record.id, after, OUTPUT_PAGE)
    for (const event of events) {
      after = event.seq
      if (event.type !== 'stdout' && event.type !== 'stderr') continue
      logged = true
      const data = event.data as OutputEventData
      if (stream !== undefined && event.type !== stream && data.truncated !== true) continue
      if (target !== undefined && data.target !== target) continue
      yield prefix(data.target, data.output.endsWith('\n') ? data.output : data.output + '\n')
    }
    if (events.length < OUTPUT_PAGE) break
  }
  if (logged) return
  for (const result of record.results) {
    if (target !== undefined && result.target !== target) continue
    for (const key of ['stdout', 'stderr'] as const) {
      const text = result[key]
      if (text === undefined || text === '' || (stream !== undefined && stream !== key)) continue
      yield prefix(result.target, text.endsWith('\n') ? text : text + '\n')
    }
  }
}

const executions: FastifyPluginAsyncTypebox = async (fastify) => {
  const { store } = fastify

  const expert = (request: { principal: { scopes: ReadonlySet<string> } | null }): boolean => request.principal?.scopes.has('expert') === true

  fastify.get('/executions', {
    config: { scope: 'read' },
    schema: {
      summary: 'List executions, newest first',
      querystring: Type.Object({
        status: Type.Optional(ExecutionStatusSchema),
        type: Type.Optional(ExecutionTypeSchema),
        target: Type.Optional(Type.String({ minLength: 1, maxLength: 300, pattern: TARGET_PATTERN })),
        since: Type.Optional(Type.String({ format: 'date-time', description: 'Started at or after (ISO 8601)' })),
        until: Type.Optional(Type.String({ format: 'date-time', description: 'Started before (ISO 8601)' })),
        limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
        cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 }))
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ executions: Type.Array(ExecutionRecordSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
        ...errorResponses
      }
    }
  }, async (request) => {
    for (const key of ['since', 'until'] as const) {
      const value = request.query[key]
      // RFC 3339 allows what Date cannot read (a leap second): refuse it rather than guess.
      if (value !== undefined && Number.isNaN(Date.parse(value))) throw new InvalidInputError(`${key} ${JSON.stringify(value)} is not a usable date`)
    }
    const page = await store.list(request.query)
    const full = expert(request)
    return { ...page, executions: page.executions.map((r) => recordFor(r, full)) }
  })

  fastify.get('/executions/:id', {
    config: { scope: 'read' },
    schema: { summary: 'An execution record', params: ExecutionIdParams, response: { 200: ExecutionRecordSchema, ...errorResponses } }
  }, async (request) => recordFor(await recordOr404(store, request.params.id), expert(request)))

  fastify.delete('/executions/:id', {
    config: { scope: 'execute' },
    schema: { summary: 'Delete a finished execution and its output', params: ExecutionIdParams, response: { 204: Type.Null(), ...errorResponses } }
  }, async (request, reply) => {
    const record = await recordOr404(store, request.params.id)
    if (!isFinished(record.status)) throw new ExecutionRunningError(record.id)
    await store.delete(record.id)
    return reply.code(204).send(null)
  })

  fastify.get('/executions/:id/output', {
    config: { scope: 'read' },
    schema: {
      summary: 'The captured output as text/plain',
      params: ExecutionIdParams,
      querystring: Type.Object({
        stream: Type.Optional(Type.Union([Type.Literal('stdout'), Type.Literal('stderr')])),
        target: Type.Optional(Type.String({ minLength: 1, maxLength: 300, pattern: TARGET_PATTERN }))
      }, { additionalProperties: false }),
      response: { 200: Type.String(), ...errorResponses }
    }
  }, async (request, reply) => {
    // It is nothing but raw output.
    requireScope(request, 'expert', 'the raw output')
    const record = await recordOr404(store, request.params.id)
    const { stream, target } = request.query
    // Streamed, so a large output is never held whole; a stream bypasses the 200 serializer.
    const body = Readable.from(outputText(store, record, stream, target))
    return reply.type('text/plain; charset=utf-8').send(body as unknown as string)
  })

  fastify.get('/executions/:id/events', {
    config: { scope: 'read' },
    schema: {
      summary: 'The logged events after a cursor, for clients that do not speak SSE',
      params: ExecutionIdParams,
      querystring: Type.Object({
        after: Type.Integer({ minimum: 0, default: 0 }),
        limit: Type.Integer({ minimum: 1, maximum: MAX_EVENTS_PAGE, default: 100 })
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ events: Type.Array(ExecutionEventSchema), nextAfter: Type.Integer() }),
        400: ErrorResponse,
        401: ErrorResponse,
        403: ErrorResponse,
        404: ErrorResponse
      }
    }
  }, async (request) => {
    const record = await recordOr404(store, request.params.id)
    const { after, limit } = request.query
    const last = await fastify.streaming.lastSeq(record.id)
    if (after > last) throw new InvalidEventIdError(`after ${after} is beyond this execution's last event (${last})`)
    const full = expert(request)
    // Hidden events are skipped but their seqs passed: a page holds up to `limit` visible events.
    const events = []
    let next = after
    for (;;) {
      const page = await store.readEvents(record.id, next, limit)
      for (const event of page) {
        next = event.seq
        const seen = eventFor(event, full)
        if (seen !== null) events.push(seen)
        if (events.length === limit) break
      }
      if (events.length === limit || page.length < limit) break
    }
    return { events, nextAfter: next }
  })

  fastify.post('/executions/:id/stream-ticket', {
    config: { scope: 'read' },
    schema: {
      summary: 'A single-use ticket to open this execution\'s stream without headers (EventSource)',
      params: ExecutionIdParams,
      response: {
        201: Type.Object({
          ticket: Type.String({ description: 'Single use, for this execution only' }),
          expiresAt: Type.String({ format: 'date-time' }),
          streamUrl: Type.String({ description: 'The stream URL with the ticket' })
        }),
        ...errorResponses
      }
    }
  }, async (request, reply) => {
    emptyBody(request.body, 'stream-ticket')
    const record = await recordOr404(store, request.params.id)
    const principal = request.principal!
    const issued = await fastify.streamTickets.issue(
      { executionId: record.id, name: principal.name, scopes: [...principal.scopes] }, clientKey(request))
    if (issued === null) throw new TooManyTicketsError(MAX_TICKETS_PER_HOLDER)
    // A credential: never cached by the browser or a proxy.
    return reply.code(201).header('cache-control', 'no-store').send({
      ...issued,
      streamUrl: `/api/executions/${record.id}/stream?ticket=${issued.ticket}`
    })
  })

  fastify.post('/executions/:id/cancel', {
    config: { scope: 'execute' },
    schema: {
      summary: 'Cancel a running execution',
      params: ExecutionIdParams,
      // No body schema: JSON Schema cannot allow an absent body (what `curl -X POST` sends),
      // so the handler accepts none, null or {} and refuses anything else.
      response: { 202: Accepted, ...errorResponses }
    }
  }, async (request, reply) => {
    emptyBody(request.body, 'cancel')
    const record = await fastify.executions.cancel(request.params.id)
    return reply.code(202).send({ executionId: record.id, status: record.status, streamUrl: `/api/executions/${record.id}/stream` })
  })
}

export default executions
