import { Worker } from 'node:worker_threads'
import { dirname } from 'node:path'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { InvalidInputError, StoreOpenError } from '../errors.js'
import { dataJson, eventFromStored } from '../streaming/sse-frames.js'
import { AppendNotifier } from './append-notifier.js'
import { makeDirectory } from './make-directory.js'
import type { CheckpointWorkerData } from './checkpoint-worker.js'
import { decodeCursor, encodeCursor } from './cursor.js'
import type {
  ExecutionStore, ListPage, ListQuery, ProcessGroupRef, RetentionPolicy, UnfinishedExecution
} from './execution-store.js'
import type { ExecutionEvent, ExecutionRecord, ExecutionStatus } from '../../schemas/index.js'
import { UNFINISHED_STATUSES } from '../executions/status.js'

// The default store: one SQLite file in WAL mode. Events are appended in batches: everything
// appended within one turn of the event loop (all executions) is one transaction.

const SCHEMA_VERSION = 4
/** The unfinished statuses as an SQL list (fixed words, never user input). */
const UNFINISHED_SQL = UNFINISHED_STATUSES.map((s) => `'${s}'`).join(', ')
/** Rows deleted per transaction by the clean-up, so no step blocks the event loop for long. */
const PURGE_CHUNK = 2000
/** About this much event data per append transaction (a few milliseconds of SQLite work). */
const APPEND_SLICE_CHARS = 512 * 1024
/**
 * Heap bytes a cached event costs at most, by the length of its data's JSON (L): the parsed data,
 * the JSON text and the SSE frame built from it (each at most L plus a few hundred characters, at
 * most 2 bytes a character), the event object and its map entries: 6 L + 1536. Measured
 * (bench/cache-memory.ts, frames written out): about 3 L + 560 for ASCII output, 6 L + 560 for
 * text beyond Latin-1 (V8 then stores 2 bytes a character): 0.3 to 0.86 of this bound.
 */
export function cachedEventBytes (event: ExecutionEvent): number {
  return 1536 + 6 * dataJson(event).length
}

export interface SqliteStoreOptions {
  /** Heap bytes the recent-log cache may hold (STORE_CACHE_MAX_BYTES); 0: no cache. */
  cacheMaxBytes?: number
}

/** The default of STORE_CACHE_MAX_BYTES. */
export const DEFAULT_CACHE_MAX_BYTES = 64 * 1024 * 1024

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  targets TEXT NOT NULL,
  action TEXT NOT NULL,
  status TEXT NOT NULL,
  started_at TEXT NOT NULL,
  completed_at TEXT,
  expert_mode INTEGER NOT NULL,
  command TEXT,
  results TEXT NOT NULL,
  error TEXT,
  output_truncated INTEGER NOT NULL,
  process_group TEXT,
  requested_by TEXT,
  request TEXT,
  rerun_of TEXT,
  plan_result TEXT
);
CREATE INDEX IF NOT EXISTS executions_status ON executions (status);
CREATE INDEX IF NOT EXISTS executions_started_at ON executions (started_at);
CREATE TABLE IF NOT EXISTS events (
  execution_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  timestamp TEXT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (execution_id, seq)
) WITHOUT ROWID;
`

interface ExecutionRow {
  position: number
  id: string
  type: string
  targets: string
  action: string
  status: string
  started_at: string
  completed_at: string | null
  expert_mode: number
  command: string | null
  results: string
  error: string | null
  output_truncated: number
  process_group: string | null
  requested_by: string | null
  request: string | null
  rerun_of: string | null
  plan_result: string | null
}

interface EventRow {
  seq: number
  type: ExecutionEvent['type']
  timestamp: string
  data: string
}

const COLUMNS: Record<keyof Omit<ExecutionRecord, 'id'>, { column: string, encode: (v: any) => unknown }> = {
  type: { column: 'type', encode: (v) => v },
  targets: { column: 'targets', encode: (v) => JSON.stringify(v) },
  action: { column: 'action', encode: (v) => v },
  status: { column: 'status', encode: (v) => v },
  startedAt: { column: 'started_at', encode: (v) => v },
  completedAt: { column: 'completed_at', encode: (v) => v },
  expertMode: { column: 'expert_mode', encode: (v) => (v === true ? 1 : 0) },
  command: { column: 'command', encode: (v) => v },
  results: { column: 'results', encode: (v) => JSON.stringify(v) },
  error: { column: 'error', encode: (v) => (v === null ? null : JSON.stringify(v)) },
  outputTruncated: { column: 'output_truncated', encode: (v) => (v === true ? 1 : 0) },
  requestedBy: { column: 'requested_by', encode: (v) => v },
  request: { column: 'request', encode: (v) => (v === null ? null : JSON.stringify(v)) },
  rerunOf: { column: 'rerun_of', encode: (v) => v },
  // A plan's return value and its truncation flag share one column: {"result": …} or {"truncated": true}.
  result: { column: 'plan_result', encode: (v) => (v === undefined ? null : JSON.stringify({ result: v })) },
  resultTruncated: { column: 'plan_result', encode: (v) => (v === true ? '{"truncated":true}' : null) }
}

function toRecord (row: ExecutionRow): ExecutionRecord {
  return {
    id: row.id,
    type: row.type as ExecutionRecord['type'],
    targets: JSON.parse(row.targets),
    action: row.action,
    status: row.status as ExecutionStatus,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    expertMode: row.expert_mode === 1,
    command: row.command,
    results: JSON.parse(row.results),
    error: row.error === null ? null : JSON.parse(row.error),
    outputTruncated: row.output_truncated === 1,
    requestedBy: row.requested_by ?? null,
    request: row.request == null ? null : JSON.parse(row.request),
    rerunOf: row.rerun_of ?? null,
    ...planResult(row.plan_result)
  }
}

function planResult (column: string | null | undefined): Pick<ExecutionRecord, 'result' | 'resultTruncated'> {
  if (column == null) return {}
  const stored = JSON.parse(column) as { result?: unknown, truncated?: true }
  return stored.truncated === true ? { resultTruncated: true } : { result: stored.result }
}

interface PendingAppend {
  id: string
  events: readonly ExecutionEvent[]
  resolve: () => void
  reject: (err: Error) => void
}

/** How often the background connection checkpoints the WAL into the database file. */
const CHECKPOINT_INTERVAL_MS = 1000

/** The checkpointing thread (checkpoint-worker.ts; compiled next to this file in dist/). */
function startCheckpointer (data: CheckpointWorkerData): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: data })
  // Run from source (tests, tsx): the thread loads the TypeScript module through tsx.
  const url = new URL('./checkpoint-worker.ts', import.meta.url).href
  return new Worker(`import('tsx/esm/api').then((tsx) => tsx.tsImport(${JSON.stringify(url)}, ${JSON.stringify(import.meta.url)}))`, { eval: true, workerData: data })
}

export class SqliteStore implements ExecutionStore {
  readonly kind = 'sqlite'
  private readonly db: Database.Database
  private readonly notifier = new AppendNotifier()
  private queue: PendingAppend[] = []
  private readonly statements
  private closed = false
  private flushing = false
  private checkpointer: Worker | null = null
  /**
   * Whole logs (from seq 1) of executions created by this process, newest last, kept in memory too
   * (with their frames) so replays skip the disk; at most `cacheMaxBytes` by `cachedEventBytes`.
   */
  private readonly recent = new Map<string, { events: ExecutionEvent[], bytes: number }>()
  private recentBytes = 0
  private readonly cacheMaxBytes: number

  /** Opens (creating if needed) the database; throws StoreOpenError naming the path on failure. */
  constructor (readonly path: string, options: SqliteStoreOptions = {}) {
    this.cacheMaxBytes = options.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES
    try {
      if (path !== ':memory:') makeDirectory(dirname(path))
      this.db = new Database(path)
      this.db.pragma('journal_mode = WAL')
      // WAL + NORMAL: a committed transaction survives a crash of the process (not of the machine).
      this.db.pragma('synchronous = NORMAL')
      this.db.pragma('busy_timeout = 5000')
      if (path !== ':memory:') {
        this.db.pragma('wal_autocheckpoint = 0')
        // Keeps the WAL file from staying at its largest size after a burst.
        this.db.pragma('journal_size_limit = 67108864')
      }
      this.db.exec(SCHEMA)
      const version = this.db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined
      if (version !== undefined && Number(version.value) > SCHEMA_VERSION) {
        throw new Error(`its schema version ${version.value} is newer than this service understands (${SCHEMA_VERSION})`)
      }
      this.migrate(version === undefined ? SCHEMA_VERSION : Number(version.value))
      this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('opened_at', ?)").run(new Date().toISOString())
    } catch (err) {
      throw new StoreOpenError(`DATABASE_PATH ${JSON.stringify(path)} cannot be used: ${(err as Error).message}`)
    }
    const db = this.db
    this.statements = {
      insertExecution: db.prepare(`INSERT INTO executions
        (id, type, targets, action, status, started_at, completed_at, expert_mode, command, results, error, output_truncated, requested_by, request, rerun_of, plan_result)
        VALUES (@id, @type, @targets, @action, @status, @startedAt, @completedAt, @expertMode, @command, @results, @error, @outputTruncated, @requestedBy, @request, @rerunOf, @planResult)`),
      getExecution: db.prepare('SELECT * FROM executions WHERE id = ?'),
      hasExecution: db.prepare('SELECT 1 FROM executions WHERE id = ?').pluck(),
      lastSeq: db.prepare('SELECT MAX(seq) AS seq FROM events WHERE execution_id = ?').pluck(),
      insertEvent: db.prepare('INSERT INTO events (execution_id, seq, type, timestamp, data) VALUES (?, ?, ?, ?, ?)'),
      readEvents: db.prepare('SELECT seq, type, timestamp, data FROM events WHERE execution_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
      setProcessGroup: db.prepare('UPDATE executions SET process_group = ? WHERE id = ?'),
      unfinished: db.prepare(`SELECT * FROM executions WHERE status IN (${UNFINISHED_SQL}) ORDER BY position`),
      deleteEvents: db.prepare(`DELETE FROM events WHERE execution_id = ? AND seq IN
        (SELECT seq FROM events WHERE execution_id = ? ORDER BY seq LIMIT ${PURGE_CHUNK})`),
      deleteExecution: db.prepare('DELETE FROM executions WHERE id = ?'),
      heartbeat: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('heartbeat', ?)")
    }
    if (path !== ':memory:') {
      this.checkpointer = startCheckpointer({ path, intervalMs: CHECKPOINT_INTERVAL_MS })
      this.checkpointer.unref()
      this.checkpointer.on('error', () => {
        // Without it, checkpoints fall back to this connection.
        this.checkpointer = null
        // A worker that fails while the store closes finds the connection already shut.
        if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000')
      })
    }
  }

  /** Brings a database written by an older version up to this schema, in one transaction. */
  private migrate (from: number): void {
    this.db.transaction(() => {
      const columns = (this.db.prepare('PRAGMA table_info(executions)').all() as Array<{ name: string }>).map((c) => c.name)
      // Version 2: who started an execution.
      if (!columns.includes('requested_by')) this.db.exec('ALTER TABLE executions ADD COLUMN requested_by TEXT')
      // Version 3: what was asked, and which execution a re-run repeats.
      if (!columns.includes('request')) this.db.exec('ALTER TABLE executions ADD COLUMN request TEXT')
      if (!columns.includes('rerun_of')) this.db.exec('ALTER TABLE executions ADD COLUMN rerun_of TEXT')
      this.db.exec('CREATE INDEX IF NOT EXISTS executions_rerun_of ON executions (rerun_of) WHERE rerun_of IS NOT NULL')
      // Version 4: a plan's return value.
      if (!columns.includes('plan_result')) this.db.exec('ALTER TABLE executions ADD COLUMN plan_result TEXT')
      if (from !== SCHEMA_VERSION || this.db.prepare("SELECT 1 FROM meta WHERE key = 'schema_version'").get() === undefined) {
        this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION))
      }
    })()
  }

  async create (record: ExecutionRecord): Promise<void> {
    this.statements.insertExecution.run({
      id: record.id,
      type: record.type,
      targets: JSON.stringify(record.targets),
      action: record.action,
      status: record.status,
      startedAt: record.startedAt,
      completedAt: record.completedAt,
      expertMode: record.expertMode ? 1 : 0,
      command: record.command,
      results: JSON.stringify(record.results),
      error: record.error === null ? null : JSON.stringify(record.error),
      outputTruncated: record.outputTruncated ? 1 : 0,
      requestedBy: record.requestedBy,
      request: record.request === null ? null : JSON.stringify(record.request),
      rerunOf: record.rerunOf,
      planResult: record.resultTruncated === true ? '{"truncated":true}' : record.result === undefined ? null : JSON.stringify({ result: record.result })
    })
    if (this.cacheMaxBytes > 0) this.recent.set(record.id, { events: [], bytes: 0 })
  }

  /** Estimated heap bytes of the recent-log cache. */
  get memoryBytes (): number {
    return this.recentBytes
  }

  async update (id: string, patch: Partial<Omit<ExecutionRecord, 'id'>>): Promise<void> {
    const sets: string[] = []
    const values: unknown[] = []
    for (const [key, value] of Object.entries(patch)) {
      const column = COLUMNS[key as keyof typeof COLUMNS]
      if (column === undefined || value === undefined) continue
      sets.push(`${column.column} = ?`)
      values.push(column.encode(value))
    }
    if (sets.length === 0) return
    this.db.prepare(`UPDATE executions SET ${sets.join(', ')} WHERE id = ?`).run(...values, id)
  }

  async get (id: string): Promise<ExecutionRecord | undefined> {
    const row = this.statements.getExecution.get(id) as ExecutionRow | undefined
    return row === undefined ? undefined : toRecord(row)
  }

  async list (query: ListQuery): Promise<ListPage> {
    const where: string[] = []
    const params: unknown[] = []
    if (query.cursor !== undefined) {
      const position = decodeCursor(query.cursor)
      if (position === null) throw new InvalidInputError('invalid cursor')
      where.push('position < ?')
      params.push(position)
    }
    if (query.status !== undefined) { where.push('status = ?'); params.push(query.status) }
    if (query.type !== undefined) { where.push('type = ?'); params.push(query.type) }
    if (query.rerunOf !== undefined) { where.push('rerun_of = ?'); params.push(query.rerunOf) }
    if (query.target !== undefined) {
      where.push('EXISTS (SELECT 1 FROM json_each(executions.targets) WHERE json_each.value = ?)')
      params.push(query.target)
    }
    // Timestamps are stored as ISO 8601 UTC with milliseconds, so text order is time order.
    if (query.since !== undefined) { where.push('started_at >= ?'); params.push(new Date(query.since).toISOString()) }
    if (query.until !== undefined) { where.push('started_at < ?'); params.push(new Date(query.until).toISOString()) }
    const sql = `SELECT * FROM executions ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY position DESC LIMIT ?`
    const rows = this.db.prepare(sql).all(...params, query.limit + 1) as ExecutionRow[]
    const more = rows.length > query.limit
    const page = rows.slice(0, query.limit)
    return {
      executions: page.map(toRecord),
      nextCursor: more ? encodeCursor(page[page.length - 1].position) : null
    }
  }

  async delete (id: string): Promise<boolean> {
    this.forget(id)
    if (this.statements.getExecution.get(id) === undefined) return false
    await this.deleteInChunks(id)
    return true
  }

  appendEvents (id: string, events: readonly ExecutionEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve()
    return new Promise((resolve, reject) => {
      this.queue.push({ id, events, resolve, reject })
      // One transaction for everything appended in this turn of the event loop.
      if (this.queue.length === 1 && !this.flushing) {
        this.flushing = true
        setImmediate(() => {
          this.flushing = false
          this.flushAppends()
        })
      }
    })
  }

  private flushAppends (): void {
    // A transaction takes what fits in a slice of time; the rest goes after a turn of the event
    // loop, so a burst of output from many executions cannot hold up everything else.
    let taken = 0
    let chars = 0
    while (taken < this.queue.length && (taken === 0 || chars < APPEND_SLICE_CHARS)) {
      for (const event of this.queue[taken].events) chars += dataJson(event).length
      taken++
    }
    const batch = this.queue.splice(0, taken)
    if (this.queue.length > 0) setImmediate(() => this.flushAppends())
    if (batch.length === 0) return
    if (this.closed) {
      for (const item of batch) item.reject(new Error('store closed'))
      return
    }
    const failed = new Map<PendingAppend, Error>()
    const appendOne = this.db.transaction((item: PendingAppend) => {
      if (this.statements.hasExecution.get(item.id) === undefined) throw new Error(`no execution ${item.id}`)
      let expected = (this.statements.lastSeq.get(item.id) as number | null ?? 0) + 1
      for (const event of item.events) {
        if (event.seq !== expected) throw new Error(`event seq ${event.seq} does not follow ${expected - 1}`)
        this.statements.insertEvent.run(item.id, event.seq, event.type, event.timestamp, dataJson(event))
        expected++
      }
    })
    try {
      this.db.transaction(() => {
        for (const item of batch) {
          // Each item in a savepoint of its own: one bad batch does not undo the others.
          try {
            appendOne(item)
          } catch (err) {
            failed.set(item, err as Error)
          }
        }
      })()
    } catch (err) {
      for (const item of batch) item.reject(err as Error)
      return
    }
    for (const item of batch) {
      const err = failed.get(item)
      if (err !== undefined) {
        item.reject(err)
      } else {
        this.remember(item)
        item.resolve()
        this.notifier.notify(item.id)
      }
    }
  }

  private remember (item: PendingAppend): void {
    const entry = this.recent.get(item.id)
    if (entry === undefined) return
    let bytes = 0
    for (const event of item.events) {
      entry.events.push(event)
      bytes += cachedEventBytes(event)
    }
    entry.bytes += bytes
    this.recentBytes += bytes
    // One very large log is read from disk rather than crowd out every other.
    if (entry.bytes > this.cacheMaxBytes / 8) return this.forget(item.id, entry)
    for (const [id, old] of this.recent) {
      if (this.recentBytes <= this.cacheMaxBytes) break
      this.forget(id, old)
    }
  }

  private forget (id: string, entry = this.recent.get(id)): void {
    if (entry === undefined) return
    this.recent.delete(id)
    this.recentBytes -= entry.bytes
  }

  async readEvents (id: string, afterSeq: number, limit: number): Promise<ExecutionEvent[]> {
    // The in-memory copy holds every committed event from seq 1, in order: seq n at index n - 1.
    const cached = this.recent.get(id)
    if (cached !== undefined) return cached.events.slice(Math.max(0, afterSeq), Math.max(0, afterSeq) + limit)
    const rows = this.statements.readEvents.all(id, afterSeq, limit) as EventRow[]
    return rows.map((r) => eventFromStored(id, r.seq, r.type, r.timestamp, r.data))
  }

  async lastSeq (id: string): Promise<number> {
    return (this.statements.lastSeq.get(id) as number | null) ?? 0
  }

  waitForEvents (id: string, afterSeq: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.notifier.wait(id, afterSeq, () => this.lastSeq(id), timeoutMs, signal)
  }

  async setProcessGroup (id: string, group: ProcessGroupRef | null): Promise<void> {
    this.statements.setProcessGroup.run(group === null ? null : JSON.stringify(group), id)
  }

  async listUnfinished (): Promise<UnfinishedExecution[]> {
    const rows = this.statements.unfinished.all() as ExecutionRow[]
    return rows.map((row) => ({
      record: toRecord(row),
      processGroup: row.process_group === null ? null : JSON.parse(row.process_group) as ProcessGroupRef
    }))
  }

  async purge (policy: RetentionPolicy): Promise<number> {
    const finished = `status NOT IN (${UNFINISHED_SQL})`
    const old = this.db.prepare(`SELECT id FROM executions WHERE ${finished} AND started_at < ? ORDER BY position`)
      .pluck().all(policy.startedBefore) as string[]
    const total = this.db.prepare('SELECT COUNT(*) FROM executions').pluck().get() as number
    const excess = total - old.length - policy.maxExecutions
    const extra = excess > 0
      ? this.db.prepare(`SELECT id FROM executions WHERE ${finished} AND started_at >= ? ORDER BY position LIMIT ?`)
        .pluck().all(policy.startedBefore, excess) as string[]
      : []
    let removed = 0
    for (const id of [...old, ...extra]) {
      if (this.closed) break
      await this.deleteInChunks(id)
      removed++
    }
    return removed
  }

  private async deleteInChunks (id: string): Promise<void> {
    this.forget(id)
    // Large logs go in steps, with the event loop served in between.
    while (this.statements.deleteEvents.run(id, id).changes === PURGE_CHUNK) {
      await yieldToLoop()
      if (this.closed) return
    }
    this.statements.deleteExecution.run(id)
  }

  async checkWritable (): Promise<void> {
    this.statements.heartbeat.run(new Date().toISOString())
  }

  async close (): Promise<void> {
    if (this.closed) return
    while (this.queue.length > 0) this.flushAppends()
    this.closed = true
    const worker = this.checkpointer
    this.checkpointer = null
    if (worker !== null) {
      // Held open until the worker has closed its connection, so the last checkpoint is ours.
      worker.ref()
      let timer: NodeJS.Timeout | undefined
      const exited = new Promise((resolve) => worker.once('exit', resolve))
      worker.postMessage('close')
      await Promise.race([exited, new Promise((resolve) => { timer = setTimeout(resolve, 2000) })])
      clearTimeout(timer)
    }
    // Closing the last connection checkpoints what is left and removes the WAL.
    this.db.close()
  }
}
