import type { ServerResponse } from 'node:http'
import { HEARTBEAT_FRAME } from './sse-frames.js'
import type { SubscriberSink } from './stream-manager.js'

/**
 * A subscriber over an SSE response. Frames beyond the backlog bound are not written (the
 * subscriber catches up from the store later); `end` closes the stream normally.
 */
export class SseSink implements SubscriberSink {
  closed = false
  /** Dropped for not reading. */
  stalled = false

  constructor (
    private readonly res: ServerResponse,
    private readonly maxBufferedBytes: number,
    private readonly endStream: () => void
  ) {
    res.once('close', () => { this.closed = true })
  }

  write (frames: string | Buffer): boolean {
    if (this.closed) return false
    this.res.write(frames)
    return true
  }

  /** Bytes written to this connection that the client has not taken yet (held by the process). */
  get bufferedBytes (): number {
    return this.closed ? 0 : this.res.writableLength
  }

  backlogged (): boolean {
    return this.bufferedBytes > this.maxBufferedBytes
  }

  drained (timeoutMs: number): Promise<boolean> {
    const res = this.res
    if (this.closed) return Promise.resolve(false)
    if (!res.writableNeedDrain) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = (ok: boolean) => (): void => {
        clearTimeout(timer)
        res.off('drain', onDrain)
        res.off('close', onClose)
        resolve(ok)
      }
      const onDrain = done(true)
      const onClose = done(false)
      const timer = setTimeout(done(false), timeoutMs)
      timer.unref()
      res.on('drain', onDrain)
      res.on('close', onClose)
    })
  }

  heartbeat (): void {
    // Skipped while the socket is backed up: the pending data keeps the connection busy anyway.
    if (!this.closed && !this.res.writableNeedDrain) this.res.write(HEARTBEAT_FRAME)
  }

  abort (): void {
    if (this.closed) return
    // Its Last-Event-ID resumes it; EventSource reconnects after a network error.
    this.stalled = true
    this.closed = true
    this.res.destroy()
  }

  end (): void {
    if (this.closed) return
    this.closed = true
    this.endStream()
  }
}
