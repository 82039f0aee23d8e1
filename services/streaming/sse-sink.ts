import type { ServerResponse } from 'node:http'
import { HEARTBEAT_FRAME } from './sse-frames.js'
import type { SubscriberSink } from './stream-manager.js'

/** Chunked transfer coding adds a size line and two CRLFs to every write; counted against the bound. */
export const CHUNK_OVERHEAD = 16
/** A paced write waits for at least this much room (or what is left), rather than trickling. */
const MIN_PACED_WRITE = 16 * 1024
/**
 * The socket is handed one piece at a time, the next when it took the last: bytes handed over
 * together (Node joins a socket's queued writes into one) would report progress only once all taken.
 */
const PIECE_BYTES = 64 * 1024

/**
 * A subscriber over an SSE response. It never holds more than `maxBufferedBytes` unsent (what a
 * write would take beyond it is refused, or paced), and it tells a reader that reads slowly from
 * one that stopped: frames wait here and go to the socket a piece at a time, each piece's callback
 * saying the socket took it, so a reader is stalled only when bytes wait and the socket takes none of
 * them for the stall timeout.
 */
export class SseSink implements SubscriberSink {
  closed = false
  /** Dropped for not reading. */
  stalled = false
  /** Frames not handed to the socket yet, oldest first, and their size. */
  private readonly queue: Buffer[] = []
  private queuedBytes = 0
  /** A piece is with the socket and not taken in full yet. */
  private inFlight = false
  /** `end` was called while frames still waited here. */
  private ending = false
  /** When the socket last took bytes, or when bytes began to wait (performance.now()). */
  private lastTaken = performance.now()
  private readonly wakers = new Set<() => void>()

  constructor (
    private readonly res: ServerResponse,
    private readonly maxBufferedBytes: number,
    private readonly endStream: () => void
  ) {
    res.once('close', () => {
      this.closed = true
      this.queue.length = 0
      this.queuedBytes = 0
      this.wake()
    })
  }

  write (frames: string | Buffer): boolean {
    if (this.closed) return false
    const bytes = typeof frames === 'string' ? Buffer.from(frames, 'utf8') : frames
    // The stall clock starts when bytes begin to wait, not at the last write of an idle stream.
    if (!this.waiting) this.lastTaken = performance.now()
    this.queue.push(bytes)
    this.queuedBytes += bytes.length
    this.pump()
    return true
  }

  /** Bytes wait, here or in the socket. */
  private get waiting (): boolean {
    return this.inFlight || this.queuedBytes > 0
  }

  private pump (): void {
    if (this.inFlight || this.res.destroyed || this.queue.length === 0) return
    const piece = this.nextPiece()
    this.inFlight = true
    this.res.write(piece, this.taken)
  }

  /** Up to PIECE_BYTES from the head of the queue; small frames are joined, a large one is cut. */
  private nextPiece (): Buffer {
    const head = this.queue[0]
    let piece: Buffer
    if (head.length >= PIECE_BYTES || this.queue.length === 1) {
      piece = head.length > PIECE_BYTES ? head.subarray(0, PIECE_BYTES) : head
      if (piece === head) this.queue.shift()
      else this.queue[0] = head.subarray(PIECE_BYTES)
    } else {
      const parts: Buffer[] = []
      let size = 0
      while (this.queue.length > 0 && size + this.queue[0].length <= PIECE_BYTES) {
        const part = this.queue.shift() as Buffer
        parts.push(part)
        size += part.length
      }
      piece = Buffer.concat(parts, size)
    }
    this.queuedBytes -= piece.length
    return piece
  }

  private readonly taken = (err?: Error | null): void => {
    this.inFlight = false
    if (err != null) return
    this.lastTaken = performance.now()
    this.pump()
    if (this.ending && !this.waiting) this.finishEnd()
    this.wake()
  }

  private wake (): void {
    for (const wake of [...this.wakers]) wake()
  }

  /** Bytes written to this connection that the client has not taken yet (held by the process). */
  get bufferedBytes (): number {
    return this.res.destroyed ? 0 : this.queuedBytes + this.res.writableLength
  }

  fits (bytes: number): boolean {
    return !this.closed && this.bufferedBytes + bytes + CHUNK_OVERHEAD <= this.maxBufferedBytes
  }

  async send (data: Buffer, stallTimeoutMs: number): Promise<boolean> {
    let offset = 0
    while (offset < data.length) {
      if (this.closed) return false
      const left = data.length - offset
      const room = this.maxBufferedBytes - this.bufferedBytes - CHUNK_OVERHEAD
      if (room < Math.min(left, MIN_PACED_WRITE) && this.waiting) {
        if (!await this.progress(stallTimeoutMs)) return false
        continue
      }
      const n = Math.min(left, Math.max(room, MIN_PACED_WRITE))
      this.write(data.subarray(offset, offset + n))
      offset += n
    }
    return !this.closed
  }

  /**
   * Resolves true when the socket next takes bytes; false when the connection closes, or when it has
   * taken nothing for `timeoutMs` while bytes wait.
   */
  private progress (timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false)
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const finish = (ok: boolean): void => {
        clearTimeout(timer)
        this.wakers.delete(onWake)
        resolve(ok)
      }
      const onWake = (): void => finish(!this.closed)
      // Re-armed from the last progress: a timer can fire early, and progress moves the deadline.
      const check = (): void => {
        const idle = performance.now() - this.lastTaken
        if (idle >= timeoutMs) return finish(false)
        timer = setTimeout(check, timeoutMs - idle)
        timer.unref()
      }
      this.wakers.add(onWake)
      check()
    })
  }

  heartbeat (): void {
    // Only on an idle connection: bytes still waiting keep it busy anyway.
    if (!this.closed && !this.waiting) this.write(HEARTBEAT_FRAME)
  }

  abort (): void {
    if (this.closed) return
    // Its Last-Event-ID resumes it; EventSource reconnects after a network error.
    this.stalled = true
    this.closed = true
    this.res.destroy()
    this.wake()
  }

  end (): void {
    if (this.closed) return
    this.closed = true
    // What still waits here goes first.
    if (this.queuedBytes > 0) this.ending = true
    else this.finishEnd()
    this.wake()
  }

  private finishEnd (): void {
    this.ending = false
    this.endStream()
  }
}
