// Domain types shared by the services, plugins and routes.

export const EXECUTION_TYPES = ['command', 'task', 'puppet', 'package'] as const
export type ExecutionType = (typeof EXECUTION_TYPES)[number]

export const EXECUTION_STATUSES = ['queued', 'running', 'success', 'failed', 'partial', 'cancelled', 'timed_out', 'interrupted'] as const
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number]

/** Statuses of an execution that has not ended yet. */
export const UNFINISHED_STATUSES: readonly ExecutionStatus[] = ['queued', 'running']

export function isFinished (status: ExecutionStatus): boolean {
  return !UNFINISHED_STATUSES.includes(status)
}

export interface ExecutionError {
  kind: string
  message: string
  issueCode?: string
}

export interface TargetResult {
  target: string
  status: 'success' | 'failed'
  exitCode?: number
  stdout?: string
  stderr?: string
  value?: unknown
  error?: ExecutionError
}

export interface ExecutionRecord {
  id: string
  type: ExecutionType
  targets: string[]
  action: string
  status: ExecutionStatus
  startedAt: string
  completedAt: string | null
  expertMode: boolean
  /** The Bolt command line (secrets redacted); only exposed in expert mode. */
  command: string | null
  results: TargetResult[]
  error: ExecutionError | null
  outputTruncated: boolean
  /** Name of the API token that started it; null in open mode. */
  requestedBy: string | null
}

export const EVENT_TYPES = ['command', 'stdout', 'stderr', 'status', 'complete', 'error'] as const
export type LoggedEventType = (typeof EVENT_TYPES)[number]
export type TerminalEventType = 'complete' | 'error'

/** An event of an execution's log: everything but `start`, which is per connection. */
export interface ExecutionEvent {
  type: LoggedEventType
  executionId: string
  timestamp: string
  seq: number
  data: unknown
}

export interface OutputEventData {
  target: string | null
  output: string
  truncated?: true
}

/**
 * The streaming callbacks an execution reports to (the seed's interface, with the
 * target added so per-target output stays apart).
 */
export interface StreamingCallback {
  onCommand?: (command: string) => void
  onStdout?: (chunk: string, target: string | null) => void
  onStderr?: (chunk: string, target: string | null) => void
  /** Output reached the execution's byte limit; nothing more will be reported. */
  onTruncated?: (message: string) => void
  /** Deliver everything held back; called before the truncation marker and the terminal event. */
  flush?: () => void
}
