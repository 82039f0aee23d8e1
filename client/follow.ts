import { createParser, type EventSourceMessage } from 'eventsource-parser'
import type { LoggedEvent } from '../schemas/index.js'
import { DEFAULT_MAX_BACKOFF_MS, DEFAULT_MIN_BACKOFF_MS, retryDelay, sleep, type BackoffOptions } from './backoff.js'
import type { BoltStreamClient } from './bolt-stream-client.js'
import { BoltStreamError, errorFromResponse, isRetryable, networkError } from './errors.js'

export type ConnectionState = {
  state: 'connecting' | 'open' | 'reconnecting' | 'closed'
  /** Reconnections since the last successful one (0 on the first connection). */
  attempt: number
  /** `reconnecting`: the wait before the next attempt. */
  delayMs?: number
  /** `reconnecting`: why the last connection failed or ended, when it failed. */
  error?: BoltStreamError
}

/** A browser-compatible EventSource constructor (the global one, or the `eventsource` package's). */
export type EventSourceConstructor = new (url: string, init?: { withCredentials?: boolean, fetch?: typeof fetch }) => EventSource

export interface FollowOptions {
  /** Resume after this event id (an event's `seq`): only later events are delivered. */
  lastEventId?: string
  /** Aborting ends the iteration cleanly (no error) and closes the connection. */
  signal?: AbortSignal
  /**
   * `fetch` (default): a streamed fetch with the token header and `Last-Event-ID`; reads the socket only
   * as fast as the loop pulls events. `eventsource`: an EventSource per connection, opened with a fresh
   * stream ticket and `?lastEventId=` (what the API offers clients that cannot send headers).
   */
  transport?: 'fetch' | 'eventsource'
  /** Told of every connection state change. */
  onConnection?: (state: ConnectionState) => void
  /** Reconnection delays: full jitter between these bounds, doubling per failed attempt (250 ms .. 15 s). */
  minBackoffMs?: number
  maxBackoffMs?: number
  /** The jitter's random source, a number in [0, 1) (tests make it deterministic). */
  random?: () => number
  /**
   * `fetch`: reconnect when nothing (not even a heartbeat, every 15 s by default) arrived for this long
   * while waiting for the server (45 s; 0: never).
   */
  idleTimeoutMs?: number
  /**
   * `eventsource`: an EventSource cannot be paused, so at most this many events (256) are held for a
   * consumer that is behind; then the connection is closed and opened again, after the last event held,
   * once the consumer has caught up.
   */
  maxQueuedEvents?: number
  /** `eventsource`: the constructor (default: the global EventSource, else the `eventsource` package). */
  EventSource?: EventSourceConstructor
}

const TERMINAL = new Set(['complete', 'error'])
const FINISHED = new Set(['success', 'failed', 'partial', 'cancelled', 'timed_out', 'interrupted'])

/** One open stream: its events until the server ends it or the connection is cut. */
interface Connection {
  events: AsyncGenerator<LoggedEvent, void, undefined>
  /** Ended by us to bound the memory held for a slow consumer: reopen at once. */
  paused: () => boolean
}

interface Context {
  client: BoltStreamClient
  id: string
  options: FollowOptions
}

/** follow(): reconnects after any cut from the last event received until the terminal event. */
export async function * follow (client: BoltStreamClient, id: string, options: FollowOptions = {}): AsyncGenerator<LoggedEvent, void, undefined> {
  const { signal, onConnection } = options
  const backoff: BackoffOptions = {
    minMs: options.minBackoffMs ?? DEFAULT_MIN_BACKOFF_MS,
    maxMs: options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
    random: options.random
  }
  const open = options.transport === 'eventsource' ? openEventSource : openFetch
  const context: Context = { client, id, options }
  let lastId = options.lastEventId
  let attempt = 0
  const tell = (state: ConnectionState): void => { onConnection?.(state) }
  const aborted = (): boolean => signal?.aborted === true
  try {
    while (!aborted()) {
      tell({ state: 'connecting', attempt })
      let error: BoltStreamError | undefined
      let connection: Connection | null = null
      try {
        connection = await open(context, lastId)
        // 204: every event up to the terminal one was received already.
        if (connection === null) return
        attempt = 0
        tell({ state: 'open', attempt })
        for await (const event of connection.events) {
          lastId = String(event.seq)
          yield event
          if (TERMINAL.has(event.type)) return
        }
      } catch (err) {
        if (aborted()) return
        error = err instanceof BoltStreamError ? err : networkError(err, client.url(streamPath(id)))
        if (!isRetryable(error)) throw error
      }
      if (aborted()) return
      if (connection?.paused() === true && error === undefined) continue
      attempt += 1
      const delayMs = retryDelay(attempt, backoff, error?.retryAfterMs)
      tell({ state: 'reconnecting', attempt, delayMs, error })
      await sleep(delayMs, signal)
    }
  } finally {
    tell({ state: 'closed', attempt })
  }
}

function streamPath (id: string): string {
  return `/api/executions/${encodeURIComponent(id)}/stream`
}

/** A logged event from an SSE message; `start` (not logged) and foreign messages are skipped. */
function toEvent (message: EventSourceMessage | { data: string }): LoggedEvent | null {
  let payload: { type?: unknown, seq?: unknown }
  try { payload = JSON.parse(message.data) } catch { return null }
  if (typeof payload !== 'object' || payload === null || typeof payload.seq !== 'number' || payload.type === 'start') return null
  return payload as LoggedEvent
}

// The fetch transport.

async function openFetch ({ client, id, options }: Context, lastId: string | undefined): Promise<Connection | null> {
  const controller = new AbortController()
  const abort = (): void => controller.abort()
  options.signal?.addEventListener('abort', abort, { once: true })
  const headers = client.headers({ accept: 'text/event-stream' })
  if (lastId !== undefined) headers['last-event-id'] = lastId
  try {
    const res = await client.fetch(client.url(streamPath(id)), { headers, signal: controller.signal })
    if (res.status === 204) {
      await res.body?.cancel()
      return null
    }
    if (!res.ok) throw await errorFromResponse(res)
    if (res.body === null) throw new BoltStreamError('The stream answered without a body', { code: 'NO_BODY' })
    return { events: readEvents(res.body, controller, options.idleTimeoutMs ?? 45_000, () => options.signal?.removeEventListener('abort', abort)), paused: () => false }
  } catch (err) {
    options.signal?.removeEventListener('abort', abort)
    throw err
  }
}

/** Parses the body as it is pulled: one read of the socket per batch of events taken. */
async function * readEvents (body: ReadableStream<Uint8Array>, controller: AbortController, idleTimeoutMs: number, release: () => void): AsyncGenerator<LoggedEvent, void, undefined> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let pending: LoggedEvent[] = []
  const parser = createParser({
    onEvent (message) {
      const event = toEvent(message)
      if (event !== null) pending.push(event)
    }
  })
  let idle = false
  try {
    while (true) {
      const batch = pending
      pending = []
      for (const event of batch) yield event
      const timer = idleTimeoutMs > 0 ? setTimeout(() => { idle = true; controller.abort() }, idleTimeoutMs) : undefined
      let chunk: Awaited<ReturnType<typeof reader.read>>
      try {
        chunk = await reader.read()
      } catch (err) {
        if (idle) throw new BoltStreamError(`Nothing arrived for ${idleTimeoutMs} ms`, { code: 'IDLE_TIMEOUT' })
        throw err
      } finally {
        clearTimeout(timer)
      }
      if (chunk.done) return
      parser.feed(decoder.decode(chunk.value, { stream: true }))
    }
  } finally {
    release()
    // Consumer gone, cut or done: close the connection (a no-op once it ended).
    controller.abort()
    reader.releaseLock()
  }
}

// The EventSource transport.

let packageEventSource: Promise<EventSourceConstructor> | undefined

async function eventSourceConstructor (options: FollowOptions): Promise<EventSourceConstructor> {
  if (options.EventSource !== undefined) return options.EventSource
  const global = (globalThis as { EventSource?: EventSourceConstructor }).EventSource
  if (global !== undefined) return global
  packageEventSource ??= import('eventsource').then((m) => m.EventSource as unknown as EventSourceConstructor)
  return packageEventSource
}

const EVENT_TYPES = ['status', 'command', 'stdout', 'stderr', 'complete', 'error'] as const

async function openEventSource (context: Context, lastId: string | undefined): Promise<Connection | null> {
  const { client, id, options } = context
  const EventSourceClass = await eventSourceConstructor(options)
  // A ticket is single use: one per connection, never EventSource's own reconnection.
  const ticket = await client.streamTicket(id)
  if (options.signal?.aborted === true) return null
  const url = `${client.baseUrl}${ticket.streamUrl}${lastId === undefined ? '' : `&lastEventId=${encodeURIComponent(lastId)}`}`
  const es = new EventSourceClass(url, { fetch: (input, init) => client.fetch(String(input), init ?? {}) })
  const maxQueued = Math.max(1, options.maxQueuedEvents ?? 256)
  const queue: LoggedEvent[] = []
  let ended = false
  let paused = false
  let failure: unknown
  let wake: (() => void) | undefined
  const notify = (): void => { const w = wake; wake = undefined; w?.() }
  const end = (): void => { ended = true; es.close(); notify() }
  const onAbort = (): void => end()
  options.signal?.addEventListener('abort', onAbort, { once: true })

  let isOpen = false
  const opened = new Promise<boolean>((resolve, reject) => {
    es.addEventListener('open', () => { isOpen = true; resolve(true) })
    for (const type of EVENT_TYPES) {
      es.addEventListener(type, (e) => {
        const message = e as Event & { data?: unknown }
        // The browser's own `error` (connection lost) has no data; ours always carries JSON.
        if (typeof message.data !== 'string' || message.data.length === 0) return
        const event = toEvent({ data: message.data })
        if (event === null || ended) return
        queue.push(event)
        if (TERMINAL.has(event.type)) end()
        else if (queue.length >= maxQueued) { paused = true; end() }
        notify()
      })
    }
    es.addEventListener('error', (e) => {
      const { data, code, message } = e as Event & { data?: unknown, code?: number, message?: string }
      if (typeof data === 'string' && data.length > 0) return
      // Never let it reconnect by itself: its ticket is spent.
      end()
      if (!isOpen) {
        failedOpen(context, lastId, code, message).then(resolve, reject)
      } else {
        failure = new BoltStreamError(`The stream was cut${message === undefined ? '' : `: ${message}`}`, { code: 'STREAM_CUT' })
        resolve(true)
      }
    })
  })
  let ok: boolean
  try {
    ok = await opened
  } catch (err) {
    options.signal?.removeEventListener('abort', onAbort)
    throw err
  }
  if (!ok) {
    options.signal?.removeEventListener('abort', onAbort)
    return null
  }

  async function * events (): AsyncGenerator<LoggedEvent, void, undefined> {
    try {
      while (true) {
        while (queue.length > 0) yield queue.shift()!
        if (ended) {
          if (failure !== undefined && !paused) throw failure
          return
        }
        await new Promise<void>((resolve) => { wake = resolve })
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
      end()
    }
  }
  return { events: events(), paused: () => paused }
}

/**
 * Why an EventSource did not open. The `eventsource` package tells the status; a browser's does not,
 * so the API is asked with the token: false (like a 204) when every event up to the terminal one has
 * been received, else the error (401/403/404 end the follow, anything else is retried).
 */
async function failedOpen ({ client, id }: Context, lastId: string | undefined, status?: number, message?: string): Promise<boolean> {
  if (status === 204) return false
  // The package tells the status (not the body or Retry-After): a known answer needs no probe.
  if (status !== undefined && status >= 300) throw new BoltStreamError(message ?? `HTTP ${status}`, { status })
  const record = await client.getExecution(id)
  if (FINISHED.has(record.status)) {
    const page = await client.events(id, { after: lastId === undefined ? 0 : Number(lastId), limit: 1 })
    if (page.events.length === 0 && lastId !== undefined) return false
  }
  throw new BoltStreamError(message ?? 'The stream could not be opened', { status, code: 'STREAM_FAILED' })
}
