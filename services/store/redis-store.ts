import type { ChainableCommander, Redis } from 'ioredis'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { InvalidInputError } from '../errors.js'
import { dataJson, eventFromStored } from '../streaming/sse-frames.js'
import { decodeCursor, encodeCursor } from './cursor.js'
import type {
  ExecutionStore, ListPage, ListQuery, ProcessGroupRef, RetentionPolicy, UnfinishedExecution
} from './execution-store.js'
import { duplicateConnection, guarded, persistent } from './redis-connection.js'
import { RedisTail } from './redis-tail.js'
import type { ExecutionEvent, ExecutionRecord, ExecutionStatus } from '../../schemas/index.js'
import { UNFINISHED_STATUSES } from '../executions/status.js'

// STORE=redis: history shared by every replica.
//   <p>x:<id>     hash: `pos` (list position), `last` (last seq), `status`, `pg` (process group),
//                 and each other record field as JSON under `r:<field>`
//   <p>ev:<id>    the event log, a stream whose entry ids are `<seq>-0`: Last-Event-ID maps one to one
//   <p>i:…        sorted sets that serve the list: `all`, `status:<s>`, `type:<t>`, `target:<name>`,
//                 `rerun:<id>` and `unfinished` scored by position; `started` scored by start time (ms)
// Scripts keep each change whole: a record and its indexes, an append and its seq check.

/** Statuses that are not final, as the scripts compare them. */
const UNFINISHED_LUA = `{${UNFINISHED_STATUSES.map((s) => `['${s}'] = true`).join(', ')}}`

const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('ERR execution ' .. ARGV[1] .. ' exists') end
local pos = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'pos', pos, 'last', 0, unpack(ARGV, 3))
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
for i = 4, #KEYS do redis.call('ZADD', KEYS[i], pos, ARGV[1]) end
return pos`

// KEYS: record, unfinished index; ARGV: id, status index prefix, new status or '', field/value pairs.
const UPDATE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
local status = ARGV[3]
if status ~= '' then
  local old = redis.call('HGET', KEYS[1], 'status')
  local pos = redis.call('HGET', KEYS[1], 'pos')
  if old ~= status then
    redis.call('ZREM', ARGV[2] .. old, ARGV[1])
    redis.call('ZADD', ARGV[2] .. status, pos, ARGV[1])
    redis.call('HSET', KEYS[1], 'status', status)
  end
  if (${UNFINISHED_LUA})[status] then redis.call('ZADD', KEYS[2], pos, ARGV[1]) else redis.call('ZREM', KEYS[2], ARGV[1]) end
end
return 1`

// KEYS: record, log; ARGV: seq, type, timestamp, data for each event.
const APPEND = `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('ERR no execution') end
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
local n = #ARGV / 4
for i = 0, n - 1 do
  local seq = tonumber(ARGV[i * 4 + 1])
  if seq ~= last + 1 + i then return redis.error_reply('ERR event seq ' .. ARGV[i * 4 + 1] .. ' does not follow ' .. (last + i)) end
end
for i = 0, n - 1 do
  redis.call('XADD', KEYS[2], ARGV[i * 4 + 1] .. '-0', 't', ARGV[i * 4 + 2], 'ts', ARGV[i * 4 + 3], 'd', ARGV[i * 4 + 4])
end
redis.call('HSET', KEYS[1], 'last', last + n)
return last + n`

const SET_IF_EXISTS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`

type Field = keyof Omit<ExecutionRecord, 'id' | 'status'>
const FIELDS: Field[] = [
  'type', 'targets', 'action', 'startedAt', 'completedAt', 'expertMode', 'command', 'results', 'error',
  'outputTruncated', 'requestedBy', 'request', 'rerunOf', 'result', 'resultTruncated'
]

/** Records per round trip when a page or a purge reads many. */
const READ_CHUNK = 200

export interface RedisStoreOptions {
  /** Prefix of every key (REDIS_KEY_PREFIX). */
  prefix: string
}

interface Scripts {
  boltCreate: (...args: Array<string | number>) => Promise<number>
  boltUpdate: (...args: Array<string | number>) => Promise<number>
  boltAppend: (...args: Array<string | number>) => Promise<number>
  boltSetIfExists: (...args: Array<string | number>) => Promise<number>
}

export class RedisStore implements ExecutionStore {
  readonly kind = 'redis'
  /** Nothing of the history is held in this process. */
  readonly memoryBytes = 0
  readonly prefix: string
  private closed = false
  /** Reads under way, by what they read: subscribers woken together share one round trip. */
  private readonly reads = new Map<string, Promise<unknown>>()

  private constructor (readonly redis: Redis, private readonly tail: RedisTail, private readonly reader: Redis, options: RedisStoreOptions) {
    this.prefix = options.prefix
    redis.defineCommand('boltCreate', { lua: CREATE })
    redis.defineCommand('boltUpdate', { lua: UPDATE, numberOfKeys: 2 })
    redis.defineCommand('boltAppend', { lua: APPEND, numberOfKeys: 2 })
    redis.defineCommand('boltSetIfExists', { lua: SET_IF_EXISTS, numberOfKeys: 1 })
  }

  /** A store on `redis` (connected); it opens a second connection for the tail. */
  static async open (redis: Redis, options: RedisStoreOptions): Promise<RedisStore> {
    const reader = await duplicateConnection(redis, 'bolt-stream-tail')
    return new RedisStore(redis, new RedisTail(redis, reader), reader, options)
  }

  private get scripts (): Scripts {
    return this.redis as unknown as Scripts
  }

  key (...parts: string[]): string {
    return this.prefix + parts.join(':')
  }

  recordKey (id: string): string {
    return this.key('x', id)
  }

  logKey (id: string): string {
    return this.key('ev', id)
  }

  async create (record: ExecutionRecord): Promise<void> {
    await guarded(() => this.createRecord(record))
  }

  private async createRecord (record: ExecutionRecord): Promise<void> {
    const indexes = [
      this.key('i', 'all'), this.key('i', 'status', record.status), this.key('i', 'type', record.type),
      ...[...new Set(record.targets)].map((t) => this.key('i', 'target', t))
    ]
    if (record.rerunOf !== null) indexes.push(this.key('i', 'rerun', record.rerunOf))
    if (UNFINISHED_STATUSES.includes(record.status)) indexes.push(this.key('i', 'unfinished'))
    const keys = [this.recordKey(record.id), this.key('seq'), this.key('i', 'started'), ...indexes]
    await this.scripts.boltCreate(keys.length, ...keys, record.id, Date.parse(record.startedAt), 'status', record.status, ...encodeFields(record))
  }

  /** Waits for Redis while it is away: a record's end is never dropped. */
  async update (id: string, patch: Partial<Omit<ExecutionRecord, 'id'>>): Promise<void> {
    const { status, ...rest } = patch
    await persistent(() => this.scripts.boltUpdate(this.recordKey(id), this.key('i', 'unfinished'), id, this.key('i', 'status', ''), status ?? '', ...encodeFields(rest)), () => this.closed)
  }

  async get (id: string): Promise<ExecutionRecord | undefined> {
    const hash = await guarded(() => this.redis.hgetall(this.recordKey(id)))
    return hash.pos === undefined ? undefined : decodeRecord(id, hash)
  }

  private async getMany (ids: string[]): Promise<Array<Record<string, string>>> {
    if (ids.length === 0) return []
    const pipeline = this.redis.pipeline()
    for (const id of ids) pipeline.hgetall(this.recordKey(id))
    return ((await pipeline.exec()) ?? []).map(([err, hash]) => {
      if (err !== null) throw err
      return hash as Record<string, string>
    })
  }

  async list (query: ListQuery): Promise<ListPage> {
    return guarded(() => this.listPage(query))
  }

  private async listPage (query: ListQuery): Promise<ListPage> {
    let before = '+inf'
    if (query.cursor !== undefined) {
      const position = decodeCursor(query.cursor)
      if (position === null) throw new InvalidInputError('invalid cursor')
      before = `(${position}`
    }
    const sets: string[] = []
    if (query.status !== undefined) sets.push(this.key('i', 'status', query.status))
    if (query.type !== undefined) sets.push(this.key('i', 'type', query.type))
    if (query.target !== undefined) sets.push(this.key('i', 'target', query.target))
    if (query.rerunOf !== undefined) sets.push(this.key('i', 'rerun', query.rerunOf))
    const timed = query.since !== undefined || query.until !== undefined
    let ids: string[]
    if (sets.length <= 1 && !timed) {
      ids = await this.redis.zrevrangebyscore(sets[0] ?? this.key('i', 'all'), before, '-inf', 'LIMIT', 0, query.limit + 1)
    } else {
      ids = await this.intersect(sets, query, before)
    }
    const more = ids.length > query.limit
    const page = ids.slice(0, query.limit)
    const hashes = await this.getMany(page)
    const executions: ExecutionRecord[] = []
    let last = 0
    hashes.forEach((hash, i) => {
      // Deleted between the index read and this one: left out.
      if (hash.pos === undefined) return
      executions.push(decodeRecord(page[i], hash))
      last = Number(hash.pos)
    })
    return { executions, nextCursor: more && last > 0 ? encodeCursor(last) : null }
  }

  /** The page of several filters: the indexes intersected in Redis (scores: positions), in one transaction. */
  private async intersect (sets: string[], query: ListQuery, before: string): Promise<string[]> {
    const temp = this.key('tmp', `${process.pid}-${Math.random().toString(36).slice(2)}`)
    const multi = this.redis.multi()
    const keys = [this.key('i', 'all'), ...sets]
    const weights = keys.map((_, i) => (i === 0 ? 1 : 0))
    if (query.since !== undefined || query.until !== undefined) {
      const since = query.since === undefined ? '-inf' : String(Date.parse(query.since))
      const until = query.until === undefined ? '+inf' : `(${Date.parse(query.until)}`
      multi.zrangestore(`${temp}:t`, this.key('i', 'started'), since, until, 'BYSCORE')
      keys.push(`${temp}:t`)
      weights.push(0)
    }
    multi.zinterstore(temp, keys.length, ...keys, 'WEIGHTS', ...weights, 'AGGREGATE', 'SUM')
    multi.zrevrangebyscore(temp, before, '-inf', 'LIMIT', 0, query.limit + 1)
    multi.unlink(temp, `${temp}:t`)
    const replies = await multi.exec()
    if (replies === null) throw new Error('list transaction aborted')
    for (const [err] of replies) if (err !== null) throw err
    return replies[replies.length - 2][1] as string[]
  }

  async delete (id: string): Promise<boolean> {
    return guarded(() => this.deleteOne(id))
  }

  private async deleteOne (id: string): Promise<boolean> {
    const hash = await this.redis.hgetall(this.recordKey(id))
    if (hash.pos === undefined) return false
    const record = decodeRecord(id, hash)
    const multi = this.redis.multi()
    multi.unlink(this.recordKey(id), this.logKey(id))
    this.unindex(multi, record)
    await multi.exec()
    return true
  }

  private unindex (multi: ChainableCommander, record: ExecutionRecord): void {
    const { id } = record
    multi.zrem(this.key('i', 'all'), id)
    multi.zrem(this.key('i', 'started'), id)
    multi.zrem(this.key('i', 'unfinished'), id)
    multi.zrem(this.key('i', 'status', record.status), id)
    multi.zrem(this.key('i', 'type', record.type), id)
    for (const target of record.targets) multi.zrem(this.key('i', 'target', target), id)
    if (record.rerunOf !== null) multi.zrem(this.key('i', 'rerun', record.rerunOf), id)
  }

  /**
   * Appends whole or not at all. While Redis is away the append waits and retries (the stream
   * manager sends nobody an event before it is stored); a refusal (a seq that does not continue
   * the log, an unknown execution) rejects at once.
   */
  async appendEvents (id: string, events: readonly ExecutionEvent[]): Promise<void> {
    if (events.length === 0) return
    const args: Array<string | number> = []
    for (const e of events) args.push(e.seq, e.type, e.timestamp, dataJson(e))
    await persistent(() => this.scripts.boltAppend(this.recordKey(id), this.logKey(id), ...args), () => this.closed)
  }

  async readEvents (id: string, afterSeq: number, limit: number): Promise<ExecutionEvent[]> {
    if (limit <= 0) return []
    const from = Math.max(0, afterSeq) + 1
    // The events are shared too: their frames are then built once for all those subscribers.
    return this.shared(`ev:${id}:${from}:${limit}`, async () => {
      const entries = await guarded(() => this.redis.xrange(this.logKey(id), `${from}-0`, '+', 'COUNT', limit))
      return entries.map(([entryId, fields]) => {
        const f = pairs(fields)
        return eventFromStored(id, Number.parseInt(entryId, 10), f.t as ExecutionEvent['type'], f.ts, f.d)
      })
    })
  }

  async lastSeq (id: string): Promise<number> {
    return this.shared(`last:${id}`, async () => Number(await guarded(() => this.redis.hget(this.recordKey(id), 'last')) ?? 0))
  }

  /**
   * One read for every identical read asked while it is under way (a remote execution's
   * subscribers, woken by the same tail entry, all ask for the same page).
   */
  private shared<T> (key: string, read: () => Promise<T>): Promise<T> {
    const pending = this.reads.get(key)
    if (pending !== undefined) return pending as Promise<T>
    const started = read().finally(() => this.reads.delete(key))
    this.reads.set(key, started)
    return started
  }

  async waitForEvents (id: string, afterSeq: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (await this.lastSeq(id) > afterSeq) return true
    return this.tail.wait(this.logKey(id), afterSeq, timeoutMs, signal)
  }

  async setProcessGroup (id: string, group: ProcessGroupRef | null): Promise<void> {
    await persistent(() => this.scripts.boltSetIfExists(this.recordKey(id), 'pg', JSON.stringify(group)), () => this.closed)
  }

  async listUnfinished (): Promise<UnfinishedExecution[]> {
    const ids = await this.redis.zrange(this.key('i', 'unfinished'), 0, -1)
    const out: UnfinishedExecution[] = []
    for (let i = 0; i < ids.length; i += READ_CHUNK) {
      const chunk = ids.slice(i, i + READ_CHUNK)
      const hashes = await this.getMany(chunk)
      hashes.forEach((hash, j) => {
        if (hash.pos === undefined) return
        const record = decodeRecord(chunk[j], hash)
        if (UNFINISHED_STATUSES.includes(record.status)) out.push({ record, processGroup: hash.pg === undefined ? null : JSON.parse(hash.pg) })
      })
    }
    return out
  }

  async purge (policy: RetentionPolicy): Promise<number> {
    const unfinished = new Set(await this.redis.zrange(this.key('i', 'unfinished'), 0, -1))
    const cutoff = Date.parse(policy.startedBefore)
    const old = (await this.redis.zrangebyscore(this.key('i', 'started'), '-inf', `(${cutoff}`)).filter((id) => !unfinished.has(id))
    const doomed = new Set(old)
    let excess = await this.redis.zcard(this.key('i', 'all')) - old.length - policy.maxExecutions
    // Beyond the count: the oldest finished, by position.
    for (let offset = 0; excess > 0; offset += READ_CHUNK) {
      const chunk = await this.redis.zrange(this.key('i', 'all'), offset, offset + READ_CHUNK - 1)
      if (chunk.length === 0) break
      for (const id of chunk) {
        if (excess <= 0) break
        if (unfinished.has(id) || doomed.has(id)) continue
        doomed.add(id)
        excess--
      }
    }
    let removed = 0
    for (const id of doomed) {
      if (this.closed) break
      if (await this.delete(id)) removed++
      await yieldToLoop()
    }
    return removed
  }

  async checkWritable (): Promise<void> {
    await guarded(() => this.redis.set(this.key('heartbeat'), new Date().toISOString()))
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.tail.close()
    this.reader.disconnect()
    await this.redis.quit().catch(() => this.redis.disconnect())
  }
}

function encodeFields (record: Partial<ExecutionRecord>): string[] {
  const out: string[] = []
  for (const field of FIELDS) {
    const value = record[field]
    if (value !== undefined) out.push(`r:${field}`, JSON.stringify(value))
  }
  return out
}

function decodeRecord (id: string, hash: Record<string, string>): ExecutionRecord {
  const record: Record<string, unknown> = { id }
  for (const field of ['type', 'targets', 'action', 'status', 'startedAt', 'completedAt', 'expertMode', 'command', 'results', 'error',
    'outputTruncated', 'requestedBy', 'request', 'rerunOf', 'result', 'resultTruncated'] as const) {
    if (field === 'status') {
      record.status = hash.status as ExecutionStatus
      continue
    }
    const text = hash[`r:${field}`]
    if (text !== undefined) record[field] = JSON.parse(text)
    else if (field === 'requestedBy' || field === 'request' || field === 'rerunOf') record[field] = null
  }
  return record as unknown as ExecutionRecord
}

function pairs (fields: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]] = fields[i + 1]
  return out
}
