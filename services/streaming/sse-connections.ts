import type { ServerResponse } from 'node:http'
import type { SseSink } from './sse-sink.js'

// The open SSE connections: admission against the per-client and total limits, and the one
// heartbeat timer they all share.

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
