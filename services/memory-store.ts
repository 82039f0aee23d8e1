import { InvalidInputError } from './errors.js'
import type { ExecutionStore, ListPage, ListQuery } from './execution-store.js'
import { isFinished, type ExecutionEvent, type ExecutionRecord } from './types.js'

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
  recordBytes: number
  eventBytes: number
}

function eventBytes (event: ExecutionEvent): number {
  const data = event.data as { output?: unknown, results?: ExecutionRecord['results'] } | null
  let bytes = 160 + (typeof data?.output === 'string' ? data.output.length : 0)
  if (Array.isArray(data?.results)) for (const r of data.results) bytes += 128 + (r.stdout?.length ?? 0) + (r.stderr?.length ?? 0)
  return bytes
}

function recordBytes (record: ExecutionRecord): number {
  let bytes = 512 + record.action.length
  for (const r of record.results) bytes += 128 + (r.stdout?.length ?? 0) + (r.stderr?.length ?? 0)
  return bytes
}

const encodeCursor = (n: number): string => Buffer.from(`m:${n}`).toString('base64url')
function decodeCursor (cursor: string): number {
  const m = /^m:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (m === null) throw new InvalidInputError('invalid cursor')
  return Number(m[1])
}

/** Keeps everything in this process; history is lost on restart. */
export class MemoryStore implements ExecutionStore {
  private readonly entries = new Map<string, Entry>()
  /** Oldest first; the sequence numbers only grow. */
  private order: Entry[] = []
  private counter = 0
  private bytes = 0

  constructor (private readonly options: MemoryStoreOptions) {}

  async create (record: ExecutionRecord): Promise<void> {
    const entry: Entry = { n: ++this.counter, record: structuredClone(record), events: [], recordBytes: recordBytes(record), eventBytes: 0 }
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
    const before = query.cursor === undefined ? Infinity : decodeCursor(query.cursor)
    const executions: ExecutionRecord[] = []
    let last: Entry | undefined
    let more = false
    for (let i = this.order.length - 1; i >= 0; i--) {
      const entry = this.order[i]
      if (entry.n >= before) continue
      if (query.status !== undefined && entry.record.status !== query.status) continue
      if (query.type !== undefined && entry.record.type !== query.type) continue
      if (executions.length === query.limit) {
        more = true
        break
      }
      executions.push(structuredClone(entry.record))
      last = entry
    }
    return { executions, nextCursor: more && last !== undefined ? encodeCursor(last.n) : null }
  }

  async appendEvents (id: string, events: readonly ExecutionEvent[]): Promise<void> {
    const entry = this.entries.get(id)
    if (entry === undefined) return
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

  async close (): Promise<void> {
    this.entries.clear()
    this.order = []
    this.bytes = 0
  }

  /** Current totals, for tests and stats. */
  usage (): { executions: number, bytes: number } {
    return { executions: this.entries.size, bytes: this.bytes }
  }

  private evict (): void {
    if (this.entries.size <= this.options.maxExecutions && this.bytes <= this.options.maxBytes) return
    const keep: Entry[] = []
    for (const entry of this.order) {
      const over = this.entries.size > this.options.maxExecutions || this.bytes > this.options.maxBytes
      if (over && isFinished(entry.record.status)) {
        this.entries.delete(entry.record.id)
        this.bytes -= entry.recordBytes + entry.eventBytes
      } else {
        keep.push(entry)
      }
    }
    this.order = keep
  }
}
