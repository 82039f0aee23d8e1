import type { StreamingCallback } from '../streaming/streaming-callback.js'

// The buffering hook: wraps an execution's streaming callbacks and batches output chunks
// per (stream, target), so each key produces at most one event per interval. It is a
// throttle, not a debounce: a chunk waits at most one interval, however chatty the output.

export interface TimerApi {
  setTimeout: (fn: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
  now: () => number
}

const realTimers: TimerApi = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  now: () => performance.now()
}

interface Pending {
  stream: 'stdout' | 'stderr'
  target: string | null
  chunks: string[]
  lastFlush: number
  timer: unknown
}

export interface BufferedCallback extends StreamingCallback {
  flush: () => void
  /** Stops the timers; pending output is delivered first. */
  close: () => void
}

export function bufferOutput (
  downstream: StreamingCallback,
  intervalMs: number,
  timers: TimerApi = realTimers
): BufferedCallback {
  const batches = new Batches(downstream, intervalMs, timers)
  return {
    onCommand: (command) => downstream.onCommand?.(command),
    onStdout: (chunk, target) => batches.add('stdout', chunk, target),
    onStderr: (chunk, target) => batches.add('stderr', chunk, target),
    onTruncated: (message) => {
      batches.flush()
      downstream.onTruncated?.(message)
    },
    flush: () => batches.flush(),
    close: () => batches.close()
  }
}

/** The waiting output of one execution, one batch per (stream, target). */
class Batches {
  private readonly keys = new Map<string, Pending>()
  /** Keys with output waiting, in the order their first waiting chunk arrived. */
  private readonly waiting: Pending[] = []
  private closed = false

  constructor (
    private readonly downstream: StreamingCallback,
    private readonly intervalMs: number,
    private readonly timers: TimerApi
  ) {}

  add (stream: 'stdout' | 'stderr', chunk: string, target: string | null): void {
    if (this.closed) return
    const key = target === null ? stream : `${stream}:${target}`
    let entry = this.keys.get(key)
    if (entry === undefined) {
      entry = { stream, target, chunks: [], lastFlush: -Infinity, timer: null }
      this.keys.set(key, entry)
    }
    if (entry.chunks.length === 0) this.waiting.push(entry)
    entry.chunks.push(chunk)
    if (entry.timer === null) this.arm(entry)
  }

  flush (): void {
    while (this.waiting.length > 0) this.deliver(this.waiting[0])
    this.downstream.flush?.()
  }

  close (): void {
    this.flush()
    this.closed = true
    for (const entry of this.keys.values()) if (entry.timer !== null) this.timers.clearTimeout(entry.timer)
    this.keys.clear()
  }

  private arm (entry: Pending): void {
    const due = entry.lastFlush + this.intervalMs
    entry.timer = this.timers.setTimeout(() => {
      // Node times a timer from the loop's cached clock, so after a busy turn it can fire a
      // few ms early: wait out the rest of the window rather than flush inside it.
      if (this.timers.now() < due) return this.arm(entry)
      entry.timer = null
      this.deliver(entry)
    }, Math.max(0, due - this.timers.now()))
  }

  private deliver (entry: Pending): void {
    if (entry.timer !== null) {
      this.timers.clearTimeout(entry.timer)
      entry.timer = null
    }
    if (entry.chunks.length === 0) return
    const text = entry.chunks.length === 1 ? entry.chunks[0] : entry.chunks.join('')
    entry.chunks = []
    entry.lastFlush = this.timers.now()
    const i = this.waiting.indexOf(entry)
    if (i !== -1) this.waiting.splice(i, 1)
    if (entry.stream === 'stdout') this.downstream.onStdout?.(text, entry.target)
    else this.downstream.onStderr?.(text, entry.target)
  }
}
