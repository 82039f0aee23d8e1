import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ErrorRef, ExecutionIdParams, StreamQuery, StreamingStats, errorResponses } from '../../../schemas/index.js'
import { clientKey } from '../../../services/auth/client-key.js'
import { InvalidEventIdError, NotAcceptableError, TooManyStreamsError } from '../../../services/errors.js'
import { isFinished } from '../../../services/executions/status.js'
import { acceptsEventStream, resumePoint } from '../../../services/streaming/negotiation.js'
import { startFrame } from '../../../services/streaming/sse-frames.js'
import { SseSink } from '../../../services/streaming/sse-sink.js'

/** Reconnection delay suggested to EventSource clients. */
const RETRY_MS = 2000

const stream: FastifyPluginAsyncTypebox = async (fastify) => {
  const { streaming, sseConnections, config } = fastify

  fastify.get('/executions/:id/stream', {
    // A stream ticket (`?ticket=`) stands in for the header: EventSource cannot send one.
    config: { scope: 'read', ticket: true },
    // 'manual': we negotiate ourselves, so a refusal is a JSON error like every other; one shared
    // heartbeat timer instead of the plugin's per-connection one (services/streaming/sse-connections.ts).
    sse: { kind: 'manual', heartbeat: false },
    schema: {
      summary: 'Follow an execution over Server-Sent Events',
      params: ExecutionIdParams,
      querystring: StreamQuery,
      response: { 204: Type.Null(), ...errorResponses, 406: ErrorRef }
    }
  }, async (request, reply) => {
    if (!acceptsEventStream(request.headers.accept)) throw new NotAcceptableError()
    const { id } = request.params
    const record = await fastify.executions.record(id)
    const after = resumePoint(request.headers['last-event-id'], request.query.lastEventId)
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

    const limited = sseConnections.admit(clientKey(request.ip, request.principal), reply.raw)
    if (limited !== null) {
      throw new TooManyStreamsError(limited === 'client'
        ? `This client has ${config.maxStreamsPerClient} streams open, the most allowed`
        : `The service has ${config.maxStreams} streams open, the most allowed`)
    }
    reply.header('cache-control', 'no-cache, no-transform')
    reply.header('x-accel-buffering', 'no')
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
      data: { status: record.status, resumeAfter: after, lastSeq }
    }, RETRY_MS))
    await streaming.subscribe(id, after, sink, { expert: request.hasScope('expert') })
  })

  fastify.get('/streaming/stats', {
    config: { scope: 'read' },
    schema: { summary: 'Streaming statistics', response: { 200: StreamingStats } }
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
