import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Redis } from 'ioredis'
import type { OperationSpec } from '../bolt/arguments.js'
import type { Logger } from '../logger.js'
import { duplicateConnection, guarded, isReplyError, sleep } from '../store/redis-connection.js'
import type { RedisStore } from '../store/redis-store.js'
import type { ExecutionEvent, ExecutionRecord } from '../../schemas/index.js'

// Work shared by the replicas of STORE=redis:
//   <p>q            the queue: a stream with the consumer group `workers`, one entry per queued execution
//   <p>queued       the queued executions (sorted set): its size is the cluster's queue; whoever
//                   removes an id from it (a replica taking it, a cancel) owns that execution
//   <p>lease:<id>   the replica running an execution, renewed while it runs
//   <p>cancel       pub/sub channel of cancel requests; <p>cancelreq:<id> keeps one for a replica
//                   that takes the execution as the request goes out
// A replica that dies stops renewing its leases: another finds the execution running without a
// lease and marks it interrupted. An entry delivered to a replica that died before owning it is
// claimed by another after a while (XAUTOCLAIM); owning goes by the sorted set, so a double
// delivery is harmless.

const GROUP = 'workers'
/** A queue entry delivered but not owned for this long is offered to another replica. */
const RECLAIM_IDLE_MS = 1000
/** Longest one blocking read of the queue waits. */
const BLOCK_MS = 1000
/** How long a cancel request waits for the replica that takes the execution. */
const CANCEL_REQUEST_TTL_MS = 300_000

// KEYS: queued set; ARGV: max, id. Reserves a place in the cluster's queue.
const RESERVE = `
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], redis.call('TIME')[1], ARGV[2])
return 1`

// KEYS: record, lease, queued set, reap mark; ARGV: id, mark ttl. Claims an execution whose runner is gone.
const CLAIM_ORPHAN = `
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'running' and status ~= 'queued' then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[2]) then return 0 end
return 1`

// KEYS: lease, cancel marker; ARGV: replica. Lets go of a lease only if it is still this replica's.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('DEL', KEYS[2])
return 1`

/** What a replica needs to run a queued execution: the operation as asked (secrets included). */
export interface QueuedJob {
  spec: OperationSpec
  expertMode: boolean
}

export interface SharedWorkHandlers {
  /** Whether a local slot is free now. */
  hasFreeSlot: () => boolean
  /** Takes a local slot if one is free (synchronously); false when none is. */
  reserveSlot: () => boolean
  releaseSlot: () => void
  /** Runs a queued execution this replica now owns (its slot reserved, its lease held). */
  take: (id: string, job: QueuedJob) => void
  /** A cancel request for an execution that may run here. */
  cancel: (id: string, reason: string) => void
  /** An execution whose runner is gone and that this replica must mark interrupted. */
  orphan: (id: string) => Promise<void>
}

export interface SharedWorkOptions {
  store: RedisStore
  leaseTtlMs: number
  maxQueued: number
  logger: Logger
}

export class SharedWork {
  readonly replica = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
  private readonly redis: Redis
  private readonly held = new Set<string>()
  private handlers: SharedWorkHandlers | null = null
  private queueReader: Redis | null = null
  private subscriber: Redis | null = null
  private timers: NodeJS.Timeout[] = []
  private stopped = false
  private taking: Promise<void> | null = null
  private slotWaiters: Array<() => void> = []

  constructor (private readonly options: SharedWorkOptions) {
    this.redis = options.store.redis
    this.redis.defineCommand('boltReserve', { lua: RESERVE, numberOfKeys: 1 })
    this.redis.defineCommand('boltClaimOrphan', { lua: CLAIM_ORPHAN, numberOfKeys: 4 })
    this.redis.defineCommand('boltReleaseLease', { lua: RELEASE, numberOfKeys: 2 })
  }

  private key (...parts: string[]): string {
    return this.options.store.key(...parts)
  }

  /** The lease's own lifetime: renewed several times within it, lapsed well within LEASE_TTL_MS. */
  private get leasePx (): number {
    return Math.ceil(this.options.leaseTtlMs / 2)
  }

  private get beat (): number {
    return Math.max(100, Math.floor(this.options.leaseTtlMs / 5))
  }

  /** Joins the cluster: takes queued work, hears cancel requests, renews leases, finds orphans. */
  async start (handlers: SharedWorkHandlers): Promise<void> {
    this.handlers = handlers
    await this.redis.xgroup('CREATE', this.key('q'), GROUP, '$', 'MKSTREAM').catch((err: unknown) => {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err
    })
    this.queueReader = await duplicateConnection(this.redis, 'bolt-stream-queue')
    this.subscriber = await duplicateConnection(this.redis, 'bolt-stream-cancel')
    this.subscriber.on('message', (_channel: string, message: string) => {
      try {
        const { id, reason } = JSON.parse(message) as { id: string, reason: string }
        this.handlers?.cancel(id, reason)
      } catch {}
    })
    await this.subscriber.subscribe(this.key('cancel'))
    const renew = setInterval(() => { void this.renew() }, this.beat)
    const reap = setInterval(() => { void this.reap() }, this.beat)
    renew.unref()
    reap.unref()
    this.timers.push(renew, reap)
    this.taking = this.takeLoop()
  }

  /** A slot was freed: the queue is read again. */
  slotFreed (): void {
    for (const wake of this.slotWaiters.splice(0)) wake()
  }

  /** Holds the lease of an execution this replica is about to run (before its record says running). */
  async hold (id: string): Promise<void> {
    this.held.add(id)
    await guarded(() => this.redis.set(this.key('lease', id), this.replica, 'PX', this.leasePx))
  }

  /** Takes the lease only if nobody holds it (a cancel ending a queued execution); false when another does. */
  async holdIfFree (id: string): Promise<boolean> {
    const set = await guarded(() => this.redis.set(this.key('lease', id), this.replica, 'PX', this.leasePx, 'NX'))
    if (set === 'OK') this.held.add(id)
    return set === 'OK'
  }

  async release (id: string): Promise<void> {
    this.held.delete(id)
    await (this.redis as unknown as { boltReleaseLease: (...a: string[]) => Promise<number> })
      .boltReleaseLease(this.key('lease', id), this.key('cancelreq', id), this.replica).catch(() => {})
  }

  /**
   * Records a queued execution (with its `queued` event) and puts it on the shared queue; false
   * when the cluster's queue is full.
   */
  async enqueue (record: ExecutionRecord, job: QueuedJob, queuedEvent: ExecutionEvent): Promise<boolean> {
    const { store } = this.options
    const reserved = await guarded(() => (this.redis as unknown as { boltReserve: (...a: Array<string | number>) => Promise<number> })
      .boltReserve(this.key('queued'), this.options.maxQueued, record.id))
    if (reserved !== 1) return false
    try {
      await store.create(record)
      await store.appendEvents(record.id, [queuedEvent])
      await this.redis.xadd(this.key('q'), '*', 'id', record.id, 'job', JSON.stringify(job))
    } catch (err) {
      await this.redis.zrem(this.key('queued'), record.id).catch(() => {})
      await store.delete(record.id).catch(() => {})
      throw err
    }
    return true
  }

  /** Takes a queued execution off the queue (to cancel it): true when it was still queued. */
  async claim (id: string): Promise<boolean> {
    return await guarded(() => this.redis.zrem(this.key('queued'), id)) === 1
  }

  /** Asks whichever replica runs `id` to cancel it. */
  async requestCancel (id: string, reason: string): Promise<void> {
    await guarded(() => this.redis.multi()
      .set(this.key('cancelreq', id), reason, 'PX', CANCEL_REQUEST_TTL_MS)
      .publish(this.key('cancel'), JSON.stringify({ id, reason }))
      .exec())
  }

  /** A cancel request made as this replica took the execution, if any. */
  async pendingCancel (id: string): Promise<string | null> {
    return this.redis.get(this.key('cancelreq', id)).catch(() => null)
  }

  /** Executions queued in the cluster. */
  async queuedCount (): Promise<number> {
    return guarded(() => this.redis.zcard(this.key('queued')))
  }

  private async renew (): Promise<void> {
    if (this.held.size === 0) return
    const pipeline = this.redis.pipeline()
    for (const id of this.held) pipeline.set(this.key('lease', id), this.replica, 'PX', this.leasePx)
    await pipeline.exec().catch(() => {})
  }

  /** Finds executions nobody runs any more and hands them to `orphan`, one replica each. */
  private async reap (): Promise<void> {
    if (this.stopped) return
    try {
      const ids = await this.redis.zrange(this.key('i', 'unfinished'), 0, -1)
      for (const id of ids) {
        if (this.held.has(id) || this.stopped) continue
        const claimed = await (this.redis as unknown as { boltClaimOrphan: (...a: Array<string | number>) => Promise<number> })
          .boltClaimOrphan(this.options.store.recordKey(id), this.key('lease', id), this.key('queued'), this.key('reap', id), id, 60_000)
        if (claimed === 1) await this.handlers?.orphan(id)
      }
    } catch (err) {
      if (isReplyError(err)) this.options.logger.error({ err }, 'could not look for interrupted executions')
    }
  }

  private async waitForSlot (): Promise<void> {
    await new Promise<void>((resolve) => {
      this.slotWaiters.push(resolve)
      // Also wakes up now and then, so a missed signal costs a beat, not forever.
      setTimeout(resolve, this.beat).unref()
    })
  }

  private async takeLoop (): Promise<void> {
    const reader = this.queueReader!
    while (!this.stopped) {
      try {
        const entry = await this.nextEntry(reader)
        if (entry === null) continue
        if (!this.handlers!.reserveSlot()) {
          // No slot after all: left pending, another replica (or this one) claims it soon.
          await this.waitForSlot()
          continue
        }
        const owned = await this.own(entry.id)
        await this.redis.multi().xack(this.key('q'), GROUP, entry.entryId).xdel(this.key('q'), entry.entryId).exec()
        if (!owned) {
          this.handlers!.releaseSlot()
          continue
        }
        this.handlers!.take(entry.id, entry.job)
      } catch (err) {
        if (this.stopped) return
        if (isReplyError(err)) this.options.logger.error({ err }, 'could not read the shared queue')
        await sleep(200)
      }
    }
  }

  /** Owning an execution: off the queued set and under this replica's lease, at once. */
  private async own (id: string): Promise<boolean> {
    this.held.add(id)
    const replies = await this.redis.multi()
      .zrem(this.key('queued'), id)
      .set(this.key('lease', id), this.replica, 'PX', this.leasePx)
      .exec()
    if (replies?.[0]?.[1] === 1) return true
    await this.release(id)
    return false
  }

  private async nextEntry (reader: Redis): Promise<{ entryId: string, id: string, job: QueuedJob } | null> {
    if (!this.handlers!.hasFreeSlot()) {
      await this.waitForSlot()
      return null
    }
    // First what others were handed and never took (a replica that died, or had no slot).
    const claimed = await this.redis.xautoclaim(this.key('q'), GROUP, this.replica, RECLAIM_IDLE_MS, '0-0', 'COUNT', 1) as [string, Array<[string, string[]] | null>]
    let found = claimed[1].find((e) => e !== null) ?? null
    if (found === null) {
      const read = await reader.xreadgroup('GROUP', GROUP, this.replica, 'COUNT', 1, 'BLOCK', BLOCK_MS, 'STREAMS', this.key('q'), '>') as Array<[string, Array<[string, string[]]>]> | null
      found = read?.[0]?.[1]?.[0] ?? null
    }
    if (found === null) return null
    const [entryId, fields] = found
    const f: Record<string, string> = {}
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1]
    return { entryId, id: f.id, job: JSON.parse(f.job) as QueuedJob }
  }

  async close (): Promise<void> {
    this.stopped = true
    for (const timer of this.timers) clearInterval(timer)
    this.slotFreed()
    this.queueReader?.disconnect()
    this.subscriber?.disconnect()
    await this.taking
  }
}
