import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { clientKey } from '../../../plugins/app/auth.js'
import { SseSink } from '../../../plugins/app/streaming.js'
import { ExecutionNotFoundError, InvalidEventIdError, NotAcceptableError, TooManyStreamsError } from '../../../services/errors.js'
import { isFinished } from '../../../services/types.js'
import { ErrorResponse, ExecutionIdParams, errorResponses } from '../../../schemas/index.js'

const EVENT_ID = /^\d{1,15}$/
/** Reconnection delay suggested to EventSource clients. */
const RETRY_MS = 2000

/** Whether an Accept header admits `text/event-stream` (absent: yes; `q=0` refuses). */
export function acceptsEventStream (accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true
  let best = -1
  let admitted = false
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase())
    const rank = type === 'text/event-stream' ? 3 : type === 'text/*' ? 2 : type === '*/*' ? 1 : -1
    if (rank <= best) continue
    best = rank
    const q = params.find((p) => p.startsWith('q='))
    admitted = q === undefined || Number(q.slice(2)) > 0
  }
  return best > 0 && admitted
}

const stream: FastifyPluginAsyncTypebox = async (fastify) => {
  const { streaming, store, sseConnections, config } = fastify

  fastify.get('/executions/:id/stream', {
    // A stream ticket (`?ticket=`) stands in for the header: EventSource cannot send one.
    config: { scope: 'read', ticket: true },
    // 'manual': we negotiate ourselves, so a refusal is a JSON error like every other; one shared
    // heartbeat timer instead of the plugin's per-connection one (plugins/streaming.ts).
    sse: { kind: 'manual', heartbeat: false },
    schema: {
      summary: 'Follow an execution over Server-Sent Events',
      params: ExecutionIdParams,
      // Open: EventSource polyfills and proxies add cache-busting parameters.
      querystring: Type.Object({
        lastEventId: Type.Optional(Type.String({ maxLength: 32 })),
        ticket: Type.Optional(Type.String({ maxLength: 64, description: 'A stream ticket (POST …/stream-ticket)' }))
      }),
      response: { 204: Type.Null(), ...errorResponses, 406: ErrorResponse }
    }
  }, async (request, reply) => {
    if (!acceptsEventStream(request.headers.accept)) throw new NotAcceptableError()
    const { id } = request.params
    const record = await store.get(id)
    if (record === undefined) throw new ExecutionNotFoundError(id)

    // The header (sent by EventSource on reconnect) wins over the query (first connection).
    const header = request.headers['last-event-id']
    const given = typeof header === 'string' && header !== '' ? header : request.query.lastEventId
    let after = 0
    if (given !== undefined && given !== '') {
      if (!EVENT_ID.test(given)) throw new InvalidEventIdError(`Last-Event-ID must be a whole number (got ${JSON.stringify(given.slice(0, 32))})`)
      after = Number(given)
    }
    const live = streaming.isLive(id)
    const lastSeq = await streaming.lastSeq(id)
    if (after > lastSeq) {
      throw new InvalidEventIdError(`Last-Event-ID ${after} is beyond this execution's last event (${lastSeq})`)
    }
    const terminalSeq = live ? streaming.terminalSeq(id) : (isFinished(record.status) ? lastSeq : null)
    if (terminalSeq !== null && after >= terminalSeq) {
      // The client has everything; 204 makes EventSource stop reconnecting.
      return reply.code(204).send(null)
    }

    const limited = sseConnections.admit(clientKey(request), reply.raw)
    if (limited !== null) {
      throw new TooManyStreamsError(limited === 'client'
        ? `This client has ${config.maxStreamsPerClient} streams open, the most allowed`
        : `The service has ${config.maxStreams} streams open, the most allowed`)
    }
    reply.header('cache-control', 'no-cache, no-transform')
    reply.header('x-accel-buffering', 'no')
    reply.sse.keepAlive()
    const sink = new SseSink(reply, config.streamMaxBufferedBytes)
    sseConnections.add(sink)
    reply.sse.onClose(() => {
      sseConnections.delete(sink)
      streaming.unsubscribe(id, sink)
      if (sink.stalled) request.log.info({ executionId: id }, 'subscriber stopped reading and was disconnected')
    })
    // Written at once so the headers leave now, not with the first output.
    await reply.sse.send({
      event: 'start',
      retry: RETRY_MS,
      data: {
        type: 'start',
        executionId: id,
        timestamp: new Date().toISOString(),
        data: { status: record.status, resumeAfter: after, lastSeq }
      }
    })
    await streaming.subscribe(id, after, sink, { expert: request.principal?.scopes.has('expert') === true })
  })

  fastify.get('/streaming/stats', {
    config: { scope: 'read' },
    schema: {
      summary: 'Streaming statistics',
      response: {
        200: Type.Object({
          activeExecutions: Type.Integer({ description: 'Executions running now' }),
          queuedExecutions: Type.Integer({ description: 'Executions waiting for a free slot' }),
          subscribers: Type.Integer({ description: 'Open SSE connections' }),
          liveChannels: Type.Integer({ description: 'Executions with a live event channel' }),
          liveSubscribers: Type.Integer({ description: 'Subscribers attached to live channels' }),
          bufferedBytes: Type.Integer({ description: 'Bytes written to open streams that their clients have not read yet' }),
          maxBufferedBytes: Type.Integer({ description: 'The same, for the stream holding most' })
        })
      }
    }
  }, async () => {
    const { liveExecutions, liveSubscribers } = streaming.stats()
    const buffered = sseConnections.buffered()
    return {
      activeExecutions: fastify.executions.runningCount,
      queuedExecutions: fastify.executions.queuedCount,
      subscribers: sseConnections.size,
      liveChannels: liveExecutions,
      liveSubscribers,
      bufferedBytes: buffered.total,
      maxBufferedBytes: buffered.max
    }
  })
}

export default stream
