import type { ExecutionEvent, StartEvent } from '../../schemas/index.js'

// The one SSE frame encoder: every frame the service writes (start, logged events, heartbeats)
// is built here. An event is serialised once, whoever needs it: the store keeps the JSON of its
// data, and the frame shared by every subscriber embeds that same text. Frames carry no raw
// text: `id` is an integer, `event` comes from a fixed set, and `data` is one JSON line.

const dataTexts = new WeakMap<ExecutionEvent, string>()
const frames = new WeakMap<ExecutionEvent, string>()

/** JSON of `event.data`. */
export function dataJson (event: ExecutionEvent): string {
  let text = dataTexts.get(event)
  if (text === undefined) {
    text = JSON.stringify(event.data ?? null)
    dataTexts.set(event, text)
  }
  return text
}

/**
 * Builds an event from stored parts, remembering the stored JSON so it is not made again. Its
 * `data` is parsed on first read: a replay only copies the stored text into frames (parsing
 * was about a sixth of the CPU of reading a log from Redis). An own enumerable getter, so spreads and
 * JSON.stringify see `data` as a plain property would be seen.
 */
export function eventFromStored (executionId: string, seq: number, type: ExecutionEvent['type'], timestamp: string, data: string): ExecutionEvent {
  let parsed: unknown
  let done = false
  const event = {
    type,
    executionId,
    timestamp,
    seq,
    get data (): unknown {
      if (!done) {
        parsed = JSON.parse(data)
        done = true
      }
      return parsed
    }
  } as unknown as ExecutionEvent
  dataTexts.set(event, data)
  return event
}

/** The payload `{type, executionId, timestamp, seq, data}` as JSON (key order as documented). */
export function payloadJson (event: ExecutionEvent): string {
  // type, executionId (a UUID) and timestamp (ISO) need no escaping beyond what JSON.stringify gives.
  return `{"type":"${event.type}","executionId":${JSON.stringify(event.executionId)},"timestamp":"${event.timestamp}","seq":${event.seq},"data":${dataJson(event)}}`
}

/** The SSE frame of a logged event, shared by all subscribers. */
export function eventFrame (event: ExecutionEvent): string {
  let frame = frames.get(event)
  if (frame === undefined) {
    // `event` is from a fixed set and `id` an integer; the data is one JSON line.
    frame = `id: ${event.seq}\nevent: ${event.type}\ndata: ${payloadJson(event)}\n\n`
    frames.set(event, frame)
  }
  return frame
}

/** The first frame of every connection: not logged, so no `id:`; `retry:` sets EventSource's reconnection delay. */
export function startFrame (event: StartEvent, retryMs: number): string {
  return `event: start\ndata: ${JSON.stringify(event)}\nretry: ${Math.floor(retryMs)}\n\n`
}

/** A comment that keeps proxies from cutting an idle stream. */
export const HEARTBEAT_FRAME = ': heartbeat\n\n'
