import type { ExecutionEvent, ExecutionRecord, ExecutionStatus, ExecutionType } from './types.js'

// Where execution records and their event logs live. Async and cursor-based so a durable or
// networked implementation (SQLite, Redis Streams) can replace the in-memory one unchanged.

export interface ListQuery {
  status?: ExecutionStatus
  type?: ExecutionType
  limit: number
  /** Opaque, from a previous page's `nextCursor`. */
  cursor?: string
}

export interface ListPage {
  executions: ExecutionRecord[]
  nextCursor: string | null
}

export interface ExecutionStore {
  create: (record: ExecutionRecord) => Promise<void>
  update: (id: string, patch: Partial<Omit<ExecutionRecord, 'id'>>) => Promise<void>
  get: (id: string) => Promise<ExecutionRecord | undefined>
  /** Newest first. Throws InvalidInputError for a cursor it did not issue. */
  list: (query: ListQuery) => Promise<ListPage>
  /** Appends events whose `seq` continue the log without gaps. */
  appendEvents: (id: string, events: readonly ExecutionEvent[]) => Promise<void>
  /** Events with `seq > afterSeq`, in order, at most `limit`. */
  readEvents: (id: string, afterSeq: number, limit: number) => Promise<ExecutionEvent[]>
  /** The highest `seq` logged for the execution (0 when none). */
  lastSeq: (id: string) => Promise<number>
  close: () => Promise<void>
}
