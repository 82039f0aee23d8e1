import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ErrorRef, ExecutionIdParams, LoggedEvent, StartEvent, StreamQuery, StreamingStats, errorResponses, ref } from '../../../schemas/index.js'
import type { ExecutionRecord } from '../../../schemas/index.js'
import { clientKey } from '../../../services/auth/client-key.js'
import { InvalidEventIdError, NotAcceptableError, TooManyStreamsError } from '../../../services/errors.js'
import { isFinished } from '../../../services/executions/status.js'
import { acceptsEventStream, resumePoint } from '../../../services/streaming/negotiation.js'
import { startFrame } from '../../../services/streaming/sse-frames.js'
import { SseSink } from '../../../services/streaming/sse-sink.js'

/** Reconnection delay suggested to EventSource clients. */
const RETRY_MS = 2000

const streamSchema = {
  params: ExecutionIdParams,
  querystring: StreamQuery
}

/** The stream in the API's description: each frame's `data:` is one of these payloads. */
const EventStream = {
  description: 'Server-Sent Events: `start` first (no id), then every logged event as `id: <seq>`, `event: <type>`, ' +
    '`data: <payload>`; heartbeat comments between; the stream ends after the terminal `complete` or `error` event',
  content: { 'text/event-stream': { schema: Type.Union([ref(StartEvent), ref(LoggedEvent)], { description: 'The JSON payload of one frame' }) } }
}

/** The stream's own headers, on the stream and on a HEAD. */
function streamHeaders (reply: FastifyReply): void {
  reply.header('cache-control', 'no-cache, no-transform')
  reply.header('x-accel-buffering', 'no')
}

/** The checks a stream and its HEAD share: credentials (by hook), `Accept`, the execution exists. */
async function streamable (fastify: FastifyInstance, id: string, accept: string | undefined): Promise<ExecutionRecord> {
  if (!acceptsEventStream(accept)) throw new NotAcceptableError()
  return fastify.executions.record(id)
}

/** Where the client resumes, and whether it has everything already (then 204). */
async function resumeFrom (fastify: FastifyInstance, request: FastifyRequest, record: ExecutionRecord, queryId: string | undefined): Promise<{ after: number, lastSeq: number, done: boolean }> {
  const { streaming } = fastify
  const { id } = record
  const after = resumePoint(request.headers['last-event-id'], queryId)
  const live = streaming.isLive(id)
  const lastSeq = await streaming.lastSeq(id)
  if (after > lastSeq) {
    throw new InvalidEventIdError(`Last-Event-ID ${after} is beyond this execution's last event (${lastSeq})`)
  }
  const terminalSeq = live ? streaming.terminalSeq(id) : (isFinished(record.status) ? lastSeq : null)
  return { after, lastSeq, done: terminalSeq !== null && after >= terminalSeq }
}

/** Holds a stream slot for this client until the response closes; 429 beyond the limits. */
function admit (fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply): void {
  const { config } = fastify
  const limited = fastify.sseConnections.admit(clientKey(request.ip, request.principal), reply.raw)
  if (limited === null) return
  throw new TooManyStreamsError(limited === 'client'
    ? `This client has ${config.maxStreamsPerClient} streams open, the most allowed`
    : `The service has ${config.maxStreams} streams open, the most allowed`)
}

/** STORE=redis: the per-client limit counts the client's streams on every replica. */
async function admitShared (fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const slots = fastify.sharedStreamSlots
  if (slots === null || await slots.admit(clientKey(request.ip, request.principal), reply.raw)) return
  throw new TooManyStreamsError(`This client has ${fastify.config.maxStreamsPerClient} streams open on the service's replicas, the most allowed`)
}

/** Opens the SSE response: headers now, the start frame, then the log and live events. */
async function follow (fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply, record: ExecutionRecord, from: { after: number, lastSeq: number }): Promise<void> {
  const { streaming, sseConnections, config } = fastify
  const { id } = record
  streamHeaders(reply)
  reply.sse.keepAlive()
  const sink = new SseSink(reply.raw, config.streamMaxBufferedBytes, () => reply.sse.close())
  sseConnections.add(sink)
  reply.sse.onClose(() => {
    sseConnections.delete(sink)
    streaming.unsubscribe(id, sink)
    if (sink.stalled) request.log.info({ executionId: id }, 'subscriber stopped reading and was disconnected')
  })
  // Written at once so the headers leave now, not with the first output.
  reply.sse.sendHeaders()
  sink.write(startFrame({
    type: 'start',
    executionId: id,
    timestamp: new Date().toISOString(),
    data: { status: record.status, resumeAfter: from.after, lastSeq: from.lastSeq }
  }, RETRY_MS))
  await streaming.subscribe(id, from.after, sink, { expert: request.hasScope('expert') })
}

const stream: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/executions/:id/stream', {
    // A stream ticket (`?ticket=`) stands in for the header: EventSource cannot send one.
    config: { scope: 'read', ticket: true },
    // HEAD has its own route below: it must not open a stream.
    exposeHeadRoute: false,
    // 'manual': we negotiate ourselves, so a refusal is a JSON error like every other; one shared
    // heartbeat timer instead of the plugin's per-connection one (services/streaming/sse-connections.ts).
    sse: { kind: 'manual', heartbeat: false },
    schema: {
      summary: 'Follow an execution over Server-Sent Events',
      ...streamSchema,
      response: { 200: EventStream, 204: Type.Null(), ...errorResponses, 406: ErrorRef }
    }
  }, async (request, reply) => {
    const record = await streamable(fastify, request.params.id, request.headers.accept)
    const from = await resumeFrom(fastify, request, record, request.query.lastEventId)
    // The client has everything; 204 makes EventSource stop reconnecting.
    if (from.done) return reply.code(204).send(null)
    admit(fastify, request, reply)
    await admitShared(fastify, request, reply)
    await follow(fastify, request, reply, record, from)
  })

  fastify.head('/executions/:id/stream', {
    // The same credentials as the stream; a ticket is checked, not spent. Its own route, so in the API's description.
    config: { scope: 'read', ticket: true, swagger: { exposeHeadRoute: true } },
    schema: {
      summary: 'The headers of an execution\'s stream, at once; opens no stream and takes no stream slot',
      ...streamSchema,
      response: { 200: Type.Null(), ...errorResponses, 406: ErrorRef }
    }
  }, async (request, reply) => {
    await streamable(fastify, request.params.id, request.headers.accept)
    streamHeaders(reply)
    return reply.code(200).type('text/event-stream').send(null)
  })

  fastify.get('/streaming/stats', {
    config: { scope: 'read' },
    schema: { summary: 'Streaming statistics', response: { 200: StreamingStats } }
  }, async () => {
    const { streaming, sseConnections, executions, store } = fastify
    const { liveExecutions, liveSubscribers } = streaming.stats()
    const buffered = sseConnections.buffered()
    return {
      activeExecutions: executions.runningCount,
      queuedExecutions: await executions.queuedEverywhere(),
      subscribers: sseConnections.size,
      liveChannels: liveExecutions,
      liveSubscribers,
      bufferedBytes: buffered.total,
      maxBufferedBytes: buffered.max,
      storeCacheBytes: store.memoryBytes
    }
  })
}

export default stream
