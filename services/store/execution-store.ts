import type { ExecutionEvent, ExecutionList, ExecutionListQuery, ExecutionRecord } from '../../schemas/index.js'

// Where execution records and their event logs live. Async and cursor-based so a networked
// implementation (Redis Streams: XADD with an explicit id, XRANGE from a cursor, XREAD BLOCK
// for the tail) can replace SQLite or memory without the routes or the manager changing.

/** A page request of the list: its filters, a page size and an opaque cursor (from `nextCursor`). */
export type ListQuery = ExecutionListQuery

export type ListPage = ExecutionList

/** Where a running execution's Bolt process group lives, to end it after a crash. */
export interface ProcessGroupRef {
  pgid: number
  /** The kernel boot and PID namespace the pgid belongs to; a pgid means nothing elsewhere. */
  bootId: string
  pidNamespace: string
}

export interface UnfinishedExecution {
  record: ExecutionRecord
  processGroup: ProcessGroupRef | null
}

export interface RetentionPolicy {
  /** Finished executions that started before this ISO time go. */
  startedBefore: string
  /** Beyond this many executions, the oldest finished ones go. */
  maxExecutions: number
}

export interface ExecutionStore {
  readonly kind: 'memory' | 'sqlite' | 'redis'
  /**
   * Estimated heap bytes of the event logs held in memory: SQLite's recent-log cache (at most
   * STORE_CACHE_MAX_BYTES), or the memory store's whole history (at most HISTORY_MAX_BYTES).
   */
  readonly memoryBytes: number
  create: (record: ExecutionRecord) => Promise<void>
  update: (id: string, patch: Partial<Omit<ExecutionRecord, 'id'>>) => Promise<void>
  get: (id: string) => Promise<ExecutionRecord | undefined>
  /** Newest first. Throws InvalidInputError for a cursor it did not issue. */
  list: (query: ListQuery) => Promise<ListPage>
  /** Deletes an execution and its event log; false when it did not exist. */
  delete: (id: string) => Promise<boolean>
  /** Appends events whose `seq` continue the log without gaps (all of them or none). */
  appendEvents: (id: string, events: readonly ExecutionEvent[]) => Promise<void>
  /** Events with `seq > afterSeq`, in order, at most `limit`. */
  readEvents: (id: string, afterSeq: number, limit: number) => Promise<ExecutionEvent[]>
  /** The highest `seq` logged for the execution (0 when none). */
  lastSeq: (id: string) => Promise<number>
  /**
   * Resolves true once the log holds an event after `afterSeq`, false after `timeoutMs` or an
   * abort: the live tail for readers that do not own the execution.
   */
  waitForEvents: (id: string, afterSeq: number, timeoutMs: number, signal?: AbortSignal) => Promise<boolean>
  setProcessGroup: (id: string, group: ProcessGroupRef | null) => Promise<void>
  /** Executions a previous run of the service left unfinished. */
  listUnfinished: () => Promise<UnfinishedExecution[]>
  /** Deletes what the policy no longer keeps, in small steps; returns how many executions went. */
  purge: (policy: RetentionPolicy) => Promise<number>
  /** Throws when the store cannot be written (readiness). */
  checkWritable: () => Promise<void>
  close: () => Promise<void>
}
