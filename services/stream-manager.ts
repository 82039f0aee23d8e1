import { eventFrame } from './event-json.js'
import type { ExecutionStore } from './execution-store.js'
import { isFinished, type ExecutionEvent, type LoggedEventType, type StreamingCallback, type TerminalEventType } from './types.js'

export { eventFrame }

/** How long one wait on the store's tail lasts before the subscriber is checked again. */
const TAIL_WAIT_MS = 1000

// The execution event log and its live fan-out. Every event gets the next `seq` of its
// execution, is persisted, and only then sent to live subscribers (so a reconnecting client
// finds everything it was sent). A subscriber first catches up from the store after its
// cursor, then switches to live delivery in the same tick in which it has seen everything
// persisted: no gap, no duplicate.

export interface SubscriberSink {
  /** Returns false when the subscriber cannot keep up and has been disconnected. */
  write: (frame: string) => boolean
  /** True while the connection's buffer wants a drain before more is written. */
  needsDrain: () => boolean
  /** Resolves on drain or on close, whichever comes first. */
  drained: () => Promise<void>
  /** Ends the stream normally (after the terminal event). */
  end: () => void
  readonly closed: boolean
}

interface Subscriber {
  cursor: number
  live: boolean
  sink: SubscriberSink
}

interface Channel {
  id: string
  /** Last seq assigned. */
  seq: number
  /** Last seq persisted and delivered. */
  persistedSeq: number
  pending: ExecutionEvent[]
  writing: boolean
  terminalSeq: number | null
  subscribers: Map<SubscriberSink, Subscriber>
  closed: Promise<void>
  resolveClosed: () => void
}

export interface StreamManagerOptions {
  replayPageSize?: number
  logger?: { error: (obj: object, msg?: string) => void }
}

export class StreamManager {
  private readonly channels = new Map<string, Channel>()
  private readonly pageSize: number

  constructor (private readonly store: ExecutionStore, private readonly options: StreamManagerOptions = {}) {
    this.pageSize = options.replayPageSize ?? 1000
  }

  /** Starts the live channel of a new execution. */
  open (id: string, lastSeq = 0): void {
    if (this.channels.has(id)) throw new Error(`channel ${id} already open`)
    let resolveClosed!: () => void
    const closed = new Promise<void>((resolve) => { resolveClosed = resolve })
    this.channels.set(id, {
      id, seq: lastSeq, persistedSeq: lastSeq, pending: [], writing: false, terminalSeq: null,
      subscribers: new Map(), closed, resolveClosed
    })
  }

  isLive (id: string): boolean {
    return this.channels.has(id)
  }

  /** Highest seq assigned so far, for a live execution. */
  lastAssignedSeq (id: string): number | undefined {
    return this.channels.get(id)?.seq
  }

  append (id: string, type: Exclude<LoggedEventType, TerminalEventType>, data: unknown): ExecutionEvent {
    return this.push(id, type, data)
  }

  /** Appends the terminal event; resolves once it is persisted and every live subscriber has ended. */
  terminate (id: string, type: TerminalEventType, data: unknown): Promise<void> {
    const channel = this.channels.get(id)
    if (channel === undefined) return Promise.resolve()
    const event = this.push(id, type, data)
    channel.terminalSeq = event.seq
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
        await this.store.appendEvents(channel.id, batch)
      } catch (err) {
        this.options.logger?.error({ err, executionId: channel.id }, 'could not persist execution events')
      }
      channel.persistedSeq = batch[batch.length - 1].seq
      this.fanOut(channel, batch)
    }
    channel.writing = false
    if (channel.terminalSeq !== null && channel.persistedSeq >= channel.terminalSeq) this.close(channel)
  }

  private fanOut (channel: Channel, batch: ExecutionEvent[]): void {
    if (channel.subscribers.size === 0) return
    let joined: string | undefined
    for (const sub of channel.subscribers.values()) {
      if (!sub.live) continue
      if (sub.cursor < batch[0].seq) {
        // The common case: one write of the whole batch, serialised once for everyone.
        joined ??= batch.length === 1 ? eventFrame(batch[0]) : batch.map(eventFrame).join('')
        if (!sub.sink.write(joined)) {
          channel.subscribers.delete(sub.sink)
          continue
        }
        sub.cursor = batch[batch.length - 1].seq
        continue
      }
      for (const event of batch) {
        if (event.seq <= sub.cursor) continue
        if (!sub.sink.write(eventFrame(event))) {
          channel.subscribers.delete(sub.sink)
          break
        }
        sub.cursor = event.seq
      }
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
  async subscribe (id: string, afterSeq: number, sink: SubscriberSink): Promise<void> {
    const sub: Subscriber = { cursor: afterSeq, live: false, sink }
    const channel = this.channels.get(id)
    channel?.subscribers.set(sink, sub)
    try {
      for (;;) {
        if (sink.closed) return this.unsubscribe(id, sink)
        const events = await this.store.readEvents(id, sub.cursor, this.pageSize)
        for (const event of events) {
          if (sink.closed) return this.unsubscribe(id, sink)
          if (event.seq <= sub.cursor) continue
          if (!sink.write(eventFrame(event))) return this.unsubscribe(id, sink)
          sub.cursor = event.seq
          if (event.type === 'complete' || event.type === 'error') {
            this.unsubscribe(id, sink)
            sink.end()
            return
          }
          if (sink.needsDrain()) await sink.drained()
        }
        if (events.length === this.pageSize) continue
        const current = this.channels.get(id)
        if (current === undefined || current !== channel) {
          if (events.length > 0) continue
          channel?.subscribers.delete(sink)
          // Not live in this process: either finished (the log is complete) or run by another
          // process sharing the store, whose log is followed through the store's tail.
          const record = await this.store.get(id)
          if (record !== undefined && !isFinished(record.status) && !sink.closed) {
            await this.store.waitForEvents(id, sub.cursor, TAIL_WAIT_MS)
            continue
          }
          if (!sink.closed) sink.end()
          return
        }
        if (sub.cursor >= current.persistedSeq) {
          sub.live = true
          return
        }
      }
    } catch (err) {
      this.unsubscribe(id, sink)
      throw err
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
