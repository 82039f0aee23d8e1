import fp from 'fastify-plugin'
import type { FastifyReply } from 'fastify'
import type {} from '@fastify/sse'
import { StreamManager, type SubscriberSink } from '../services/stream-manager.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The stream manager: event log, replay and live fan-out of every execution. */
    streaming: StreamManager
    /** Open SSE connections, with the one heartbeat timer they share. */
    sseConnections: SseConnections
  }
}

const HEARTBEAT = ': heartbeat\n\n'

/** A subscriber over an SSE response: bounded buffering, drop on overflow (the client resumes). */
export class SseSink implements SubscriberSink {
  closed = false
  overflowed = false

  constructor (private readonly reply: FastifyReply, private readonly maxBufferedBytes: number) {
    reply.raw.once('close', () => { this.closed = true })
  }

  write (frame: string): boolean {
    if (this.closed) return false
    const raw = this.reply.raw
    // Judged before writing: a reader that keeps up may take one large batch at a time, but one
    // still holding more than the bound unread has stalled. End it rather than buffer without
    // bound; its Last-Event-ID resumes it.
    if (raw.writableLength > this.maxBufferedBytes) {
      this.overflowed = true
      this.closed = true
      raw.destroy()
      return false
    }
    raw.write(frame)
    return true
  }

  needsDrain (): boolean {
    return this.reply.raw.writableNeedDrain
  }

  drained (): Promise<void> {
    const raw = this.reply.raw
    if (this.closed || !raw.writableNeedDrain) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        raw.off('drain', done)
        raw.off('close', done)
        resolve()
      }
      raw.on('drain', done)
      raw.on('close', done)
    })
  }

  heartbeat (): void {
    // Skipped while the socket is backed up: the pending data keeps the connection busy anyway.
    if (!this.closed && !this.reply.raw.writableNeedDrain) this.reply.raw.write(HEARTBEAT)
  }

  end (): void {
    if (this.closed) return
    this.closed = true
    this.reply.sse.close()
  }
}

export class SseConnections {
  private readonly open = new Set<SseSink>()
  private timer: NodeJS.Timeout | null = null

  constructor (private readonly heartbeatMs: number) {}

  add (sink: SseSink): void {
    this.open.add(sink)
    if (this.timer === null) {
      this.timer = setInterval(() => {
        for (const s of this.open) s.heartbeat()
      }, this.heartbeatMs)
      this.timer.unref()
    }
  }

  delete (sink: SseSink): void {
    this.open.delete(sink)
    if (this.open.size === 0 && this.timer !== null) {
      clearInterval(this.timer)
      this.timer = null
    }
  }

  get size (): number {
    return this.open.size
  }

  /** Ends every stream (shutdown); clients reconnect elsewhere with their last id. */
  endAll (): void {
    for (const s of [...this.open]) s.end()
    this.open.clear()
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }
}

export default fp(async function streaming (fastify) {
  const manager = new StreamManager(fastify.store, { logger: fastify.log })
  const connections = new SseConnections(fastify.config.streamHeartbeatMs)
  fastify.decorate('streaming', manager)
  fastify.decorate('sseConnections', connections)
  // preClose: the server waits for open connections before onClose hooks run.
  fastify.addHook('preClose', async () => connections.endAll())
}, { name: 'streaming', fastify: '5.x', dependencies: ['config', 'store'] })
