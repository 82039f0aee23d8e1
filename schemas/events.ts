import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { literals, Nullable, ref } from './common.js'
import { ExecutionError, ExecutionStatus, TargetResult } from './executions.js'

// The events of an execution, as the stream (`data:` of each SSE frame) and the events API carry
// them: `{type, executionId, timestamp, seq, data}`. Every event but `start` is logged with a
// per-execution `seq` (1, 2, 3 …), which is also its SSE `id`.

export const EVENT_TYPES = ['command', 'stdout', 'stderr', 'status', 'complete', 'error'] as const
export type LoggedEventType = (typeof EVENT_TYPES)[number]
export type TerminalEventType = 'complete' | 'error'

const envelope = <Type extends TSchema, Data extends TSchema>(type: Type, data: Data, options: { $id?: string, description?: string } = {}) =>
  Type.Object({
    type,
    executionId: Type.String({ format: 'uuid' }),
    timestamp: Type.String({ format: 'date-time' }),
    seq: Type.Integer({ minimum: 1, description: 'Position in the execution\'s log; the SSE id' }),
    data
  }, options)

export const StatusData = Type.Object({ status: ExecutionStatus })
export const CommandData = Type.Object({ command: Type.String({ description: 'The Bolt command line, secrets redacted' }) })
export const OutputData = Type.Object({
  target: Nullable(Type.String(), "The target that printed it; null for Bolt's own messages"),
  output: Type.String(),
  truncated: Type.Optional(Type.Literal(true, { description: 'Set once, on the marker that says the output limit was reached' }))
})
export type OutputEventData = Static<typeof OutputData>
export const CompleteData = Type.Object({
  status: ExecutionStatus,
  results: Type.Array(ref(TargetResult)),
  outputTruncated: Type.Boolean(),
  result: Type.Optional(Type.Unknown({ description: "plan: the plan's return value" })),
  resultTruncated: Type.Optional(Type.Literal(true))
})
export const ErrorData = Type.Object({ status: ExecutionStatus, error: ref(ExecutionError) })

export const StatusEvent = envelope(Type.Literal('status'), StatusData, { $id: 'StatusEvent', description: 'On every transition' })
export const CommandEvent = envelope(Type.Literal('command'), CommandData, { $id: 'CommandEvent', description: 'Expert mode only: the Bolt command line' })
export const StdoutEvent = envelope(Type.Literal('stdout'), OutputData, { $id: 'StdoutEvent', description: 'Expert mode only: live output' })
export const StderrEvent = envelope(Type.Literal('stderr'), OutputData, { $id: 'StderrEvent', description: "Expert mode only: live error output, Bolt's own messages, the truncation marker" })
export const CompleteEvent = envelope(Type.Literal('complete'), CompleteData, { $id: 'CompleteEvent', description: 'Terminal: Bolt ran and produced results' })
export const ErrorEvent = envelope(Type.Literal('error'), ErrorData, { $id: 'ErrorEvent', description: 'Terminal: Bolt could not run, failed fatally, timed out, was cancelled or shut down' })

export const LoggedEvent = Type.Union([
  ref(StatusEvent), ref(CommandEvent), ref(StdoutEvent), ref(StderrEvent), ref(CompleteEvent), ref(ErrorEvent)
], { $id: 'LoggedEvent', description: 'A logged event of an execution' })
export type LoggedEvent = Static<typeof LoggedEvent>

/** Any logged event, as the services handle it (its `data` typed by `type` in LoggedEvent). */
export const ExecutionEvent = envelope(literals(EVENT_TYPES), Type.Unknown())
export type ExecutionEvent = Static<typeof ExecutionEvent>

/** First on every connection; not logged: no `seq`, no SSE `id`. */
export const StartEvent = Type.Object({
  type: Type.Literal('start'),
  executionId: Type.String({ format: 'uuid' }),
  timestamp: Type.String({ format: 'date-time' }),
  data: Type.Object({
    status: ExecutionStatus,
    resumeAfter: Type.Integer({ description: 'The id this connection resumes after (0: from the start)' }),
    lastSeq: Type.Integer({ description: 'The last id logged when the connection opened' })
  })
}, { $id: 'StartEvent', description: 'First on every connection' })
export type StartEvent = Static<typeof StartEvent>

export const EventsQuery = Type.Object({
  after: Type.Integer({ minimum: 0, default: 0 }),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 })
}, { additionalProperties: false })

export const EventsPage = Type.Object({
  events: Type.Array(ref(LoggedEvent)),
  nextAfter: Type.Integer({ description: 'Pass as `after` for the next page' })
})
