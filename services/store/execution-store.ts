import type { ExecutionEvent, ExecutionRecord, ExecutionStatus, ExecutionType } from '../types.js'

// Where execution records and their event logs live. Async and cursor-based so a networked
// implementation (Redis Streams: XADD with an explicit id, XRANGE from a cursor, XREAD BLOCK
// for the tail) can replace SQLite or memory without the routes or the manager changing.

export interface ListQuery {
  status?: ExecutionStatus
  type?: ExecutionType
  /** Executions that ran on this target. */
  target?: string
  /** ISO 8601: started at or after. */
  since?: string
  /** ISO 8601: started before. */
  until?: string
  limit: number
  /** Opaque, from a previous page's `nextCursor`. */
  cursor?: string
}

export interface ListPage {
  executions: ExecutionRecord[]
  nextCursor: string | null
}

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
  readonly kind: 'memory' | 'sqlite'
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

/** Page cursors of both stores: the position of the last execution of the page. */
export function encodeCursor (position: number): string {
  return Buffer.from(`p:${position}`).toString('base64url')
}

export function decodeCursor (cursor: string): number | null {
  const m = /^p:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  return m === null ? null : Number(m[1])
}

/** In-process wake-ups for `waitForEvents`, signalled after each append. */
export class AppendNotifier {
  private readonly waiters = new Map<string, Set<() => void>>()

  notify (id: string): void {
    const set = this.waiters.get(id)
    if (set === undefined) return
    this.waiters.delete(id)
    for (const wake of set) wake()
  }

  async wait (id: string, afterSeq: number, lastSeq: () => Promise<number>, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (await lastSeq() > afterSeq) return true
      const left = deadline - Date.now()
      if (left <= 0 || signal?.aborted === true) return false
      await new Promise<void>((resolve) => {
        let set = this.waiters.get(id)
        if (set === undefined) this.waiters.set(id, set = new Set())
        const done = (): void => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', done)
          set.delete(done)
          resolve()
        }
        const timer = setTimeout(done, left)
        timer.unref()
        signal?.addEventListener('abort', done, { once: true })
        set.add(done)
      })
    }
  }
}
