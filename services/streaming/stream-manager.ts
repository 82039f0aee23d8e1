import type { Logger } from '../logger.js'
import { eventFrame } from './sse-frames.js'
import { eventFor } from '../executions/visibility.js'
import type { ExecutionStore } from '../store/execution-store.js'
import type { ExecutionEvent, LoggedEventType, TerminalEventType } from '../../schemas/index.js'
import { isFinished } from '../executions/status.js'
import type { StreamingCallback } from './streaming-callback.js'

/** How long one wait on the store's tail lasts before the subscriber is checked again. */
const TAIL_WAIT_MS = 1000
/** Fan-out runs in slices of about this long, so many busy executions cannot stall the event loop. */
const FAN_OUT_SLICE_MS = 10
/** Longest a replay of an execution run elsewhere waits for its record to turn final. */
const FINAL_RECORD_WAIT_MS = 5000
/** How long a subscriber waits before reading again from a store that could not be reached. */
const STORE_RETRY_MS = 250
/** Replayed frames are sent in pieces of about this many characters. */
const REPLAY_WRITE_CHARS = 256 * 1024

/** Runs queued tasks in order, yielding to I/O between slices of `budgetMs`. */
class SliceScheduler {
  private queue: Array<() => void> = []
  private next = 0
  private scheduled = false

  constructor (private readonly budgetMs: number) {}

  push (task: () => void): void {
    this.queue.push(task)
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.run())
    }
  }

  private run (): void {
    const started = performance.now()
    while (this.next < this.queue.length) {
      const task = this.queue[this.next++]
      task()
      if (performance.now() - started >= this.budgetMs) break
    }
    if (this.next >= this.queue.length) {
      this.queue = []
      this.next = 0
      this.scheduled = false
    } else {
      setImmediate(() => this.run())
    }
  }
}

// The execution event log and its live fan-out. Every event gets the next `seq` of its
// execution, is persisted, and only then sent to live subscribers (so a reconnecting client
// finds everything it was sent). A subscriber first catches up from the store after its
// cursor, then switches to live delivery in the same tick in which it has seen everything
// persisted: no gap, no duplicate.

export interface SubscriberSink {
  /** Queues frames; false when the connection is gone. */
  write: (frames: string | Buffer) => boolean
  /** Whether `bytes` more can be queued without holding more unsent than this subscriber may. */
  fits: (bytes: number) => boolean
  /**
   * Queues `data` without ever holding more unsent than allowed, piece by piece as the reader takes
   * bytes. False when the connection is gone, or when it took nothing for `stallTimeoutMs`.
   */
  send: (data: Buffer, stallTimeoutMs: number) => Promise<boolean>
  /** Ends the stream normally (after the terminal event). */
  end: () => void
  /** Drops a subscriber that stopped reading; it resumes later from its last id. */
  abort: () => void
  readonly closed: boolean
}

interface Subscriber {
  cursor: number
  live: boolean
  sink: SubscriberSink
  /** Sees commands and raw output (the `expert` scope); others get the public view. */
  expert: boolean
}

export interface SubscribeOptions {
  /** Whether the reader may see commands and raw output; default true. */
  expert?: boolean
}

interface Channel {
  id: string
  /** Last seq assigned. */
  seq: number
  /** Last seq persisted (its fan-out may still be queued). */
  persistedSeq: number
  pending: ExecutionEvent[]
  writing: boolean
  terminalSeq: number | null
  /** Runs once the terminal event is stored, before anyone is sent it. */
  beforeDelivery: (() => Promise<void>) | null
  subscribers: Map<SubscriberSink, Subscriber>
  closed: Promise<void>
  resolveClosed: () => void
}

export interface StreamManagerOptions {
  replayPageSize?: number
  /** How long a backlogged subscriber's connection may take no bytes before it is dropped. */
  stallTimeoutMs?: number
  logger?: Logger
  /** Told how long each batch took to be stored (the metrics). */
  onStored?: (seconds: number, events: number) => void
}

/** What the manager has sent since start (the metrics read them when scraped). */
export interface StreamCounts {
  /** Event frames written to subscribers, live and replayed. */
  events: number
  /** Their bytes. */
  bytes: number
  /** Times a subscriber fell behind the live stream and was fed from the store. */
  fedFromStore: number
  /** Subscribers dropped for not reading. */
  dropped: number
}

export class StreamManager {
  private readonly channels = new Map<string, Channel>()
  private readonly pageSize: number
  private readonly stallTimeoutMs: number
  private readonly slices = new SliceScheduler(FAN_OUT_SLICE_MS)
  readonly counts: StreamCounts = { events: 0, bytes: 0, fedFromStore: 0, dropped: 0 }

  constructor (private readonly store: ExecutionStore, private readonly options: StreamManagerOptions = {}) {
    this.pageSize = options.replayPageSize ?? 1000
    this.stallTimeoutMs = options.stallTimeoutMs ?? 30_000
  }

  /** Starts the live channel of a new execution. */
  open (id: string, lastSeq = 0): void {
    if (this.channels.has(id)) throw new Error(`channel ${id} already open`)
    let resolveClosed!: () => void
    const closed = new Promise<void>((resolve) => { resolveClosed = resolve })
    this.channels.set(id, {
      id,
      seq: lastSeq,
      persistedSeq: lastSeq,
      pending: [],
      writing: false,
      terminalSeq: null,
      beforeDelivery: null,
      subscribers: new Map(),
      closed,
      resolveClosed
    })
  }

  isLive (id: string): boolean {
    return this.channels.has(id)
  }

  /** Highest seq assigned so far, for a live execution. */
  lastAssignedSeq (id: string): number | undefined {
    return this.channels.get(id)?.seq
  }

  /** The last seq a client may know of: assigned, for a live execution, else logged. */
  async lastSeq (id: string): Promise<number> {
    return this.channels.get(id)?.seq ?? await this.store.lastSeq(id)
  }

  append (id: string, type: Exclude<LoggedEventType, TerminalEventType>, data: unknown): ExecutionEvent {
    return this.push(id, type, data)
  }

  /**
   * Appends the terminal event; resolves once it is persisted and every live subscriber has ended.
   * `beforeDelivery` (the final record update) runs after the event is stored and before anyone
   * is sent it: a client told "complete" finds the final record, and a finished record's log
   * always ends with its terminal event.
   */
  terminate (id: string, type: TerminalEventType, data: unknown, beforeDelivery?: () => Promise<void>): Promise<void> {
    const channel = this.channels.get(id)
    if (channel === undefined) return Promise.resolve()
    const event = this.push(id, type, data)
    channel.terminalSeq = event.seq
    channel.beforeDelivery = beforeDelivery ?? null
    return channel.closed
  }

  /** Streaming callbacks that log an execution's output. */
  callbacksFor (id: string): StreamingCallback {
    // Output that arrives after the terminal event (a stray timer) is dropped, never appended.
    const push = (type: LoggedEventType, data: unknown): void => {
      if (this.channels.get(id)?.terminalSeq === null) this.push(id, type, data)
    }
    return {
      onCommand: (command) => push('command', { command }),
      onStdout: (output, target) => push('stdout', { target, output }),
      onStderr: (output, target) => push('stderr', { target, output }),
      onTruncated: (output) => push('stderr', { target: null, output, truncated: true })
    }
  }

  /** Seq of the terminal event of a live execution, once appended. */
  terminalSeq (id: string): number | null {
    return this.channels.get(id)?.terminalSeq ?? null
  }

  private push (id: string, type: LoggedEventType, data: unknown): ExecutionEvent {
    const channel = this.channels.get(id)
    if (channel === undefined) throw new Error(`no live channel for execution ${id}`)
    if (channel.terminalSeq !== null) throw new Error(`execution ${id} already has its terminal event`)
    const event: ExecutionEvent = { type, executionId: id, timestamp: new Date().toISOString(), seq: ++channel.seq, data }
    channel.pending.push(event)
    if (!channel.writing) {
      channel.writing = true
      // Everything appended in this tick goes to the store as one batch.
      queueMicrotask(() => { void this.persist(channel) })
    }
    return event
  }

  private async persist (channel: Channel): Promise<void> {
    while (channel.pending.length > 0) {
      const batch = channel.pending
      channel.pending = []
      try {
        const began = performance.now()
        await this.store.appendEvents(channel.id, batch)
        this.options.onStored?.((performance.now() - began) / 1000, batch.length)
      } catch (err) {
        this.options.logger?.error({ err, executionId: channel.id }, 'could not persist execution events')
      }
      const last = batch[batch.length - 1].seq
      if (channel.terminalSeq !== null && last >= channel.terminalSeq && channel.beforeDelivery !== null) {
        try {
          await channel.beforeDelivery()
        } catch (err) {
          this.options.logger?.error({ err, executionId: channel.id }, 'could not finish the execution record')
        }
      }
      channel.persistedSeq = last
      this.slices.push(() => this.fanOut(channel, batch))
    }
    channel.writing = false
    if (channel.terminalSeq !== null && channel.persistedSeq >= channel.terminalSeq) this.slices.push(() => this.close(channel))
  }

  private fanOut (channel: Channel, batch: ExecutionEvent[]): void {
    if (channel.subscribers.size === 0) return
    // The whole batch, serialised and encoded once per view, the same bytes to every socket.
    const joined: { full?: Frames | null, public?: Frames | null } = {}
    const whole = (expert: boolean): Frames | null => {
      const view = expert ? 'full' : 'public'
      if (joined[view] === undefined) joined[view] = framesOf(batch, 0, expert)
      return joined[view]
    }
    const last = batch[batch.length - 1].seq
    for (const sub of channel.subscribers.values()) {
      if (!sub.live) continue
      if (sub.sink.closed) {
        channel.subscribers.delete(sub.sink)
        continue
      }
      // Usually the whole batch; after a catch-up that read part of it, the rest.
      const frames = sub.cursor < batch[0].seq ? whole(sub.expert) : framesOf(batch, sub.cursor, sub.expert)
      if (frames !== null && !sub.sink.fits(frames.bytes.length)) {
        // It is behind: stop pushing to it; it catches up from the store as it reads, so what
        // waits for it never exceeds its bound, whatever the output rate.
        sub.live = false
        this.counts.fedFromStore++
        void this.catchUp(channel.id, sub, channel)
        continue
      }
      // A batch fanned out after the subscriber's catch-up already passed it must not move its
      // cursor back: that would send the events between again.
      if (frames === null || sub.sink.write(frames.bytes)) {
        sub.cursor = Math.max(sub.cursor, last)
        if (frames !== null) this.sent(frames.count, frames.bytes.length)
      } else channel.subscribers.delete(sub.sink)
    }
  }

  private close (channel: Channel): void {
    this.channels.delete(channel.id)
    for (const sub of channel.subscribers.values()) {
      // Subscribers still catching up finish from the store on their own.
      if (sub.live) sub.sink.end()
    }
    channel.subscribers.clear()
    channel.resolveClosed()
  }

  /**
   * Sends the sink every logged event after `afterSeq`, then live ones. Resolves once the
   * subscriber is live, or has been sent the whole log of a finished execution and ended.
   */
  async subscribe (id: string, afterSeq: number, sink: SubscriberSink, options: SubscribeOptions = {}): Promise<void> {
    const sub: Subscriber = { cursor: afterSeq, live: false, sink, expert: options.expert ?? true }
    const channel = this.channels.get(id)
    channel?.subscribers.set(sink, sub)
    return this.catchUp(id, sub, channel)
  }

  /** Reads from the store after the subscriber's cursor until it has seen everything persisted. */
  private async catchUp (id: string, sub: Subscriber, channel: Channel | undefined): Promise<void> {
    const { sink } = sub
    const leave = (): void => this.unsubscribe(id, sink)
    try {
      for (;;) {
        const page = await this.unlessStoreAway(() => this.replayPage(id, sub), sink)
        if (page === null) continue
        if (page === 'gone') return leave()
        if (page === 'ended') {
          leave()
          sink.end()
          return
        }
        if (page === this.pageSize) continue
        const current = this.channels.get(id)
        if (current === undefined || current !== channel) {
          if (page > 0) continue
          channel?.subscribers.delete(sink)
          // Not live in this process: either finished (the log is complete) or run by another
          // process sharing the store, whose log is followed through the store's tail.
          const record = await this.unlessStoreAway(() => this.store.get(id), sink)
          if (record === null) continue
          if (record !== undefined && !isFinished(record.status) && !sink.closed) {
            await this.unlessStoreAway(() => this.store.waitForEvents(id, sub.cursor, TAIL_WAIT_MS), sink)
            continue
          }
          if (!sink.closed) sink.end()
          return
        }
        // Same tick as the check: nothing persisted can slip between catching up and going live.
        if (sub.cursor >= current.persistedSeq) {
          sub.live = true
          return
        }
      }
    } catch (err) {
      leave()
      throw err
    }
  }

  /**
   * Runs a read of the store; while a shared store is unreachable, waits a little and answers
   * null (the caller tries again) rather than drop the subscriber: its stream goes on when the
   * store is back. A closed sink stops the waiting.
   */
  private async unlessStoreAway<T> (read: () => Promise<T>, sink: SubscriberSink): Promise<T | null> {
    try {
      return await read()
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'BOLT_STREAM_STORE_UNAVAILABLE' || sink.closed) throw err
      await new Promise((resolve) => setTimeout(resolve, STORE_RETRY_MS))
      return null
    }
  }

  /**
   * Sends the subscriber one page of the log after its cursor, paced by its reader. The number of
   * events read; 'ended' once it was sent the terminal event; 'gone' when its connection closed or
   * stalled (a stalled one is dropped: it resumes later from its last id).
   */
  private async replayPage (id: string, sub: Subscriber): Promise<number | 'ended' | 'gone'> {
    const { sink } = sub
    const events = await this.store.readEvents(id, sub.cursor, this.pageSize)
    let pending = ''
    let frames = 0
    const flush = async (): Promise<boolean> => {
      if (pending.length === 0) return !sink.closed
      const data = Buffer.from(pending, 'utf8')
      const count = frames
      pending = ''
      frames = 0
      if (await sink.send(data, this.stallTimeoutMs)) {
        this.sent(count, data.length)
        return true
      }
      if (!sink.closed) {
        this.counts.dropped++
        sink.abort()
      }
      return false
    }
    for (const event of events) {
      if (event.seq <= sub.cursor) continue
      const seen = eventFor(event, sub.expert)
      if (seen !== null) {
        pending += eventFrame(seen)
        frames++
      }
      sub.cursor = event.seq
      const terminal = event.type === 'complete' || event.type === 'error'
      // Another process ran it: its record turns final just after the terminal event is stored.
      if (terminal && !this.channels.has(id)) await this.finalRecord(id)
      if (terminal || pending.length >= REPLAY_WRITE_CHARS) {
        if (!await flush()) return 'gone'
        if (terminal) return 'ended'
      }
    }
    if (!await flush()) return 'gone'
    return events.length
  }

  private sent (events: number, bytes: number): void {
    this.counts.events += events
    this.counts.bytes += bytes
  }

  /**
   * Waits (briefly) until the record of an execution run elsewhere is final, so a client told of
   * its end finds the final record, as it does when this process ran it.
   */
  private async finalRecord (id: string): Promise<void> {
    const deadline = Date.now() + FINAL_RECORD_WAIT_MS
    while (Date.now() < deadline) {
      const record = await this.store.get(id).catch(() => undefined)
      if (record === undefined || isFinished(record.status)) return
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  unsubscribe (id: string, sink: SubscriberSink): void {
    this.channels.get(id)?.subscribers.delete(sink)
  }

  stats (): { liveExecutions: number, liveSubscribers: number } {
    let liveSubscribers = 0
    for (const channel of this.channels.values()) liveSubscribers += channel.subscribers.size
    return { liveExecutions: this.channels.size, liveSubscribers }
  }
}

interface Frames {
  bytes: Buffer
  count: number
}

/** The frames of `batch`'s events after `afterSeq` as one buffer, as `expert` sees them; null if none. */
function framesOf (batch: ExecutionEvent[], afterSeq: number, expert: boolean): Frames | null {
  const frames: string[] = []
  for (const event of batch) {
    if (event.seq <= afterSeq) continue
    const seen = eventFor(event, expert)
    if (seen !== null) frames.push(eventFrame(seen))
  }
  if (frames.length === 0) return null
  return { bytes: Buffer.from(frames.length === 1 ? frames[0] : frames.join(''), 'utf8'), count: frames.length }
}
