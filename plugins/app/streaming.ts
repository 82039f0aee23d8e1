import fp from 'fastify-plugin'
import type { ServerResponse } from 'node:http'
import type { FastifyReply } from 'fastify'
import type {} from '@fastify/sse'
import { StreamManager, type SubscriberSink } from '../../services/streaming/stream-manager.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The stream manager: event log, replay and live fan-out of every execution. */
    streaming: StreamManager
    /** Open SSE connections, with the one heartbeat timer they share. */
    sseConnections: SseConnections
  }
}

const HEARTBEAT = ': heartbeat\n\n'

/** A subscriber over an SSE response. Backlog beyond the bound is not written (it catches up later). */
export class SseSink implements SubscriberSink {
  closed = false
  /** Dropped for not reading. */
  stalled = false

  constructor (private readonly reply: FastifyReply, private readonly maxBufferedBytes: number) {
    reply.raw.once('close', () => { this.closed = true })
  }

  write (frames: string | Buffer): boolean {
    if (this.closed) return false
    this.reply.raw.write(frames)
    return true
  }

  /** Bytes written to this connection that the client has not taken yet (held by the process). */
  get bufferedBytes (): number {
    return this.closed ? 0 : this.reply.raw.writableLength
  }

  backlogged (): boolean {
    return this.bufferedBytes > this.maxBufferedBytes
  }

  drained (timeoutMs: number): Promise<boolean> {
    const raw = this.reply.raw
    if (this.closed) return Promise.resolve(false)
    if (!raw.writableNeedDrain) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = (ok: boolean) => (): void => {
        clearTimeout(timer)
        raw.off('drain', onDrain)
        raw.off('close', onClose)
        resolve(ok)
      }
      const onDrain = done(true)
      const onClose = done(false)
      const timer = setTimeout(done(false), timeoutMs)
      timer.unref()
      raw.on('drain', onDrain)
      raw.on('close', onClose)
    })
  }

  heartbeat (): void {
    // Skipped while the socket is backed up: the pending data keeps the connection busy anyway.
    if (!this.closed && !this.reply.raw.writableNeedDrain) this.reply.raw.write(HEARTBEAT)
  }

  abort (): void {
    if (this.closed) return
    // Its Last-Event-ID resumes it; EventSource reconnects after a network error.
    this.stalled = true
    this.closed = true
    this.reply.raw.destroy()
  }

  end (): void {
    if (this.closed) return
    this.closed = true
    this.reply.sse.close()
  }
}

export interface StreamLimits {
  maxStreams: number
  maxStreamsPerClient: number
}

export class SseConnections {
  private readonly open = new Set<SseSink>()
  private timer: NodeJS.Timeout | null = null
  private readonly perClient = new Map<string, number>()
  private admitted = 0

  constructor (private readonly heartbeatMs: number, private readonly limits: StreamLimits) {}

  /**
   * Reserves a stream for `client` until `res` closes (released exactly once, however it
   * ends: a normal end, an aborted socket, a server-side end). Null when under the limits,
   * else which limit was hit.
   */
  admit (client: string, res: ServerResponse): 'client' | 'total' | null {
    const mine = this.perClient.get(client) ?? 0
    if (this.admitted >= this.limits.maxStreams) return 'total'
    if (mine >= this.limits.maxStreamsPerClient) return 'client'
    this.admitted++
    this.perClient.set(client, mine + 1)
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      this.admitted--
      const left = (this.perClient.get(client) ?? 1) - 1
      if (left <= 0) this.perClient.delete(client)
      else this.perClient.set(client, left)
    }
    res.once('close', release)
    // Already gone (the client left while the request was being handled): 'close' has passed.
    if (res.destroyed || res.socket === null || res.socket.destroyed) release()
    return null
  }

  /** Streams admitted now, and the clients holding them. */
  counts (): { streams: number, clients: number } {
    return { streams: this.admitted, clients: this.perClient.size }
  }

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

  /** Unsent bytes held for all open streams, and for the one holding most. */
  buffered (): { total: number, max: number } {
    let total = 0
    let max = 0
    for (const s of this.open) {
      const bytes = s.bufferedBytes
      total += bytes
      if (bytes > max) max = bytes
    }
    return { total, max }
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
  const manager = new StreamManager(fastify.store, { logger: fastify.log, stallTimeoutMs: fastify.config.streamStallTimeoutMs })
  const connections = new SseConnections(fastify.config.streamHeartbeatMs, {
    maxStreams: fastify.config.maxStreams,
    maxStreamsPerClient: fastify.config.maxStreamsPerClient
  })
  fastify.decorate('streaming', manager)
  fastify.decorate('sseConnections', connections)
  // preClose: the server waits for open connections before onClose hooks run.
  fastify.addHook('preClose', async () => connections.endAll())
}, { name: 'streaming', fastify: '5.x', dependencies: ['config', 'store'] })
