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
  const keys = new Map<string, Pending>()
  // Keys with output waiting, in the order their first waiting chunk arrived.
  const waiting: Pending[] = []
  let closed = false

  const deliver = (entry: Pending): void => {
    if (entry.timer !== null) {
      timers.clearTimeout(entry.timer)
      entry.timer = null
    }
    if (entry.chunks.length === 0) return
    const text = entry.chunks.length === 1 ? entry.chunks[0] : entry.chunks.join('')
    entry.chunks = []
    entry.lastFlush = timers.now()
    const i = waiting.indexOf(entry)
    if (i !== -1) waiting.splice(i, 1)
    if (entry.stream === 'stdout') downstream.onStdout?.(text, entry.target)
    else downstream.onStderr?.(text, entry.target)
  }

  const add = (stream: 'stdout' | 'stderr', chunk: string, target: string | null): void => {
    if (closed) return
    const key = target === null ? stream : `${stream}:${target}`
    let entry = keys.get(key)
    if (entry === undefined) {
      entry = { stream, target, chunks: [], lastFlush: -Infinity, timer: null }
      keys.set(key, entry)
    }
    if (entry.chunks.length === 0) waiting.push(entry)
    entry.chunks.push(chunk)
    if (entry.timer === null) arm(entry)
  }

  const arm = (entry: Pending): void => {
    const due = entry.lastFlush + intervalMs
    entry.timer = timers.setTimeout(() => {
      // Node times a timer from the loop's cached clock, so after a busy turn it can fire a
      // few ms early: wait out the rest of the window rather than flush inside it.
      if (timers.now() < due) return arm(entry)
      entry.timer = null
      deliver(entry)
    }, Math.max(0, due - timers.now()))
  }

  const flush = (): void => {
    while (waiting.length > 0) deliver(waiting[0])
    downstream.flush?.()
  }

  return {
    onCommand: (command) => downstream.onCommand?.(command),
    onStdout: (chunk, target) => add('stdout', chunk, target),
    onStderr: (chunk, target) => add('stderr', chunk, target),
    onTruncated: (message) => {
      flush()
      downstream.onTruncated?.(message)
    },
    flush,
    close: () => {
      flush()
      closed = true
      for (const entry of keys.values()) if (entry.timer !== null) timers.clearTimeout(entry.timer)
      keys.clear()
    }
  }
}
