import { InvalidInputError } from '../errors.js'
import { AppendNotifier } from './append-notifier.js'
import { decodeCursor, encodeCursor } from './cursor.js'
import type {
  ExecutionStore, ListPage, ListQuery, ProcessGroupRef, RetentionPolicy, UnfinishedExecution
} from './execution-store.js'
import type { ExecutionEvent, ExecutionRecord } from '../../schemas/index.js'
import { isFinished } from '../executions/status.js'

export interface MemoryStoreOptions {
  /** Most executions kept; the oldest finished ones go first. */
  maxExecutions: number
  /** Approximate bytes of records and event logs kept, likewise. */
  maxBytes: number
}

interface Entry {
  n: number
  record: ExecutionRecord
  events: ExecutionEvent[]
  processGroup: ProcessGroupRef | null
  recordBytes: number
  eventBytes: number
}

function outputBytes (results: ExecutionRecord['results'] | undefined): number {
  let bytes = 0
  if (Array.isArray(results)) for (const r of results) bytes += 128 + (r.stdout?.length ?? 0) + (r.stderr?.length ?? 0)
  return bytes
}

function eventBytes (event: ExecutionEvent): number {
  const data = event.data as { output?: unknown, results?: ExecutionRecord['results'] } | null
  return 160 + (typeof data?.output === 'string' ? data.output.length : 0) + outputBytes(data?.results)
}

const recordBytes = (record: ExecutionRecord): number => 512 + record.action.length + outputBytes(record.results)

/** Keeps everything in this process: for tests and throwaway runs; history is lost on restart. */
export class MemoryStore implements ExecutionStore {
  readonly kind = 'memory'
  private readonly entries = new Map<string, Entry>()
  /** Oldest first; the positions only grow. */
  private order: Entry[] = []
  private counter = 0
  private bytes = 0
  private readonly notifier = new AppendNotifier()

  constructor (private readonly options: MemoryStoreOptions) {}

  /** Its history's bytes, as HISTORY_MAX_BYTES counts them. */
  get memoryBytes (): number {
    return this.bytes
  }

  async create (record: ExecutionRecord): Promise<void> {
    if (this.entries.has(record.id)) throw new Error(`execution ${record.id} exists`)
    const entry: Entry = {
      n: ++this.counter, record: structuredClone(record), events: [], processGroup: null, recordBytes: recordBytes(record), eventBytes: 0
    }
    this.entries.set(record.id, entry)
    this.order.push(entry)
    this.bytes += entry.recordBytes
    this.evict()
  }

  async update (id: string, patch: Partial<Omit<ExecutionRecord, 'id'>>): Promise<void> {
    const entry = this.entries.get(id)
    if (entry === undefined) return
    Object.assign(entry.record, structuredClone(patch))
    this.bytes -= entry.recordBytes
    entry.recordBytes = recordBytes(entry.record)
    this.bytes += entry.recordBytes
    this.evict()
  }

  async get (id: string): Promise<ExecutionRecord | undefined> {
    const entry = this.entries.get(id)
    return entry === undefined ? undefined : structuredClone(entry.record)
  }

  async list (query: ListQuery): Promise<ListPage> {
    let before = Infinity
    if (query.cursor !== undefined) {
      const position = decodeCursor(query.cursor)
      if (position === null) throw new InvalidInputError('invalid cursor')
      before = position
    }
    const since = query.since === undefined ? null : Date.parse(query.since)
    const until = query.until === undefined ? null : Date.parse(query.until)
    const executions: ExecutionRecord[] = []
    let last: Entry | undefined
    let more = false
    for (let i = this.order.length - 1; i >= 0; i--) {
      const entry = this.order[i]
      const r = entry.record
      if (entry.n >= before) continue
      if (query.status !== undefined && r.status !== query.status) continue
      if (query.type !== undefined && r.type !== query.type) continue
      if (query.target !== undefined && !r.targets.includes(query.target)) continue
      if (query.rerunOf !== undefined && r.rerunOf !== query.rerunOf) continue
      const started = Date.parse(r.startedAt)
      if (since !== null && started < since) continue
      if (until !== null && started >= until) continue
      if (executions.length === query.limit) {
        more = true
        break
      }
      executions.push(structuredClone(r))
      last = entry
    }
    return { executions, nextCursor: more && last !== undefined ? encodeCursor(last.n) : null }
  }

  async delete (id: string): Promise<boolean> {
    const entry = this.entries.get(id)
    if (entry === undefined) return false
    this.remove(entry)
    this.order = this.order.filter((e) => e !== entry)
    return true
  }

  async appendEvents (id: string, events: readonly ExecutionEvent[]): Promise<void> {
    const entry = this.entries.get(id)
    if (entry === undefined) throw new Error(`no execution ${id}`)
    // All or nothing: the whole batch must continue the log.
    events.forEach((event, i) => {
      const expected = entry.events.length + 1 + i
      if (event.seq !== expected) throw new Error(`event seq ${event.seq} does not follow ${expected - 1}`)
    })
    for (const event of events) {
      entry.events.push(event)
      const size = eventBytes(event)
      entry.eventBytes += size
      this.bytes += size
    }
    this.notifier.notify(id)
    this.evict()
  }

  async readEvents (id: string, afterSeq: number, limit: number): Promise<ExecutionEvent[]> {
    const entry = this.entries.get(id)
    if (entry === undefined) return []
    // seq n sits at index n - 1.
    return entry.events.slice(Math.max(0, afterSeq), Math.max(0, afterSeq) + limit)
  }

  async lastSeq (id: string): Promise<number> {
    return this.entries.get(id)?.events.length ?? 0
  }

  waitForEvents (id: string, afterSeq: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.notifier.wait(id, afterSeq, () => this.lastSeq(id), timeoutMs, signal)
  }

  async setProcessGroup (id: string, group: ProcessGroupRef | null): Promise<void> {
    const entry = this.entries.get(id)
    if (entry !== undefined) entry.processGroup = group
  }

  async listUnfinished (): Promise<UnfinishedExecution[]> {
    return this.order.filter((e) => !isFinished(e.record.status))
      .map((e) => ({ record: structuredClone(e.record), processGroup: e.processGroup }))
  }

  async purge (policy: RetentionPolicy): Promise<number> {
    const cutoff = Date.parse(policy.startedBefore)
    const finished = this.order.filter((e) => isFinished(e.record.status))
    const excess = Math.max(0, this.order.length - policy.maxExecutions)
    const doomed = new Set(finished.filter((e) => Date.parse(e.record.startedAt) < cutoff))
    for (const e of finished) {
      if (doomed.size >= excess) break
      doomed.add(e)
    }
    for (const e of doomed) this.remove(e)
    this.order = this.order.filter((e) => !doomed.has(e))
    return doomed.size
  }

  async checkWritable (): Promise<void> {}

  async close (): Promise<void> {
    this.entries.clear()
    this.order = []
    this.bytes = 0
  }

  /** Current totals, for tests and stats. */
  usage (): { executions: number, bytes: number } {
    return { executions: this.entries.size, bytes: this.bytes }
  }

  private remove (entry: Entry): void {
    this.entries.delete(entry.record.id)
    this.bytes -= entry.recordBytes + entry.eventBytes
  }

  private evict (): void {
    if (this.entries.size <= this.options.maxExecutions && this.bytes <= this.options.maxBytes) return
    const keep: Entry[] = []
    for (const entry of this.order) {
      const over = this.entries.size > this.options.maxExecutions || this.bytes > this.options.maxBytes
      if (over && isFinished(entry.record.status)) this.remove(entry)
      else keep.push(entry)
    }
    this.order = keep
  }
}
