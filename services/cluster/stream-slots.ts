import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { Redis } from 'ioredis'

// MAX_STREAMS_PER_CLIENT across the replicas (STORE=redis): each open stream is a member of its
// client's sorted set, scored by when it lapses; the replica holding it pushes that forward while
// it stays open, so the streams of a replica that died stop counting within STREAM_SLOT_LAPSE_MS.

const REFRESH_MS = 10_000
export const STREAM_SLOT_LAPSE_MS = 3 * REFRESH_MS

// KEYS: the client's set; ARGV: now, lapses at, max, member.
const ADMIT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1`

export class SharedStreamSlots {
  private readonly held = new Map<string, string>()
  private readonly timer: NodeJS.Timeout

  constructor (private readonly redis: Redis, private readonly prefix: string, private readonly maxPerClient: number) {
    redis.defineCommand('boltAdmitStream', { lua: ADMIT, numberOfKeys: 1 })
    this.timer = setInterval(() => { void this.refresh() }, REFRESH_MS)
    this.timer.unref()
  }

  private key (client: string): string {
    return `${this.prefix}streams:${client}`
  }

  /**
   * Takes one of `client`'s stream slots of the cluster until `res` closes; false when the client
   * has as many open as allowed on all replicas together. While Redis is away, each replica's own
   * count is the bound.
   */
  async admit (client: string, res: ServerResponse): Promise<boolean> {
    const member = randomBytes(9).toString('base64url')
    const now = Date.now()
    let admitted: number
    try {
      admitted = await (this.redis as unknown as { boltAdmitStream: (...a: Array<string | number>) => Promise<number> })
        .boltAdmitStream(this.key(client), now, now + STREAM_SLOT_LAPSE_MS, this.maxPerClient, member)
    } catch {
      return true
    }
    if (admitted !== 1) return false
    const key = this.key(client)
    this.held.set(member, key)
    const release = (): void => {
      if (!this.held.delete(member)) return
      this.redis.zrem(key, member).catch(() => {})
    }
    res.once('close', release)
    if (res.destroyed) release()
    return true
  }

  private async refresh (): Promise<void> {
    if (this.held.size === 0) return
    const lapse = Date.now() + STREAM_SLOT_LAPSE_MS
    const pipeline = this.redis.pipeline()
    for (const [member, key] of this.held) {
      pipeline.zadd(key, 'XX', lapse, member)
      pipeline.pexpireat(key, lapse)
    }
    await pipeline.exec().catch(() => {})
  }

  close (): void {
    clearInterval(this.timer)
  }
}
