import type { ExecutionEvent } from '../types.js'

// An event is serialised once, whoever needs it: the store keeps the JSON of its data, and
// the SSE frame shared by every subscriber embeds that same text.

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

/** Builds an event from stored parts, remembering the stored JSON so it is not made again. */
export function eventFromStored (executionId: string, seq: number, type: ExecutionEvent['type'], timestamp: string, data: string): ExecutionEvent {
  const event: ExecutionEvent = { type, executionId, timestamp, seq, data: JSON.parse(data) }
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
