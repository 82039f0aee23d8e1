import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { guarded } from '../store/redis-connection.js'
import { sha256 } from './tokens.js'
import { TICKET_PATTERN, type Redemption, type TicketGrant, type TicketStore } from './stream-tickets.js'

// Stream tickets shared by the replicas (STORE=redis): a ticket issued by one is redeemed on any,
// once. Each is a key (by the SHA-256 of the ticket) kept one more TTL after it expires, so a late
// attempt is told "expired"; the per-holder and total bounds are sorted sets scored by expiry.

// KEYS: ticket, holder set, all set; ARGV: now, expires, keep ms, max per holder, max total, member, value.
const ISSUE = `
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) or redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then return 0 end
redis.call('SET', KEYS[1], ARGV[7], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[6])
return 1`

// KEYS: ticket; ARGV: holder set prefix, all set, member. Reads and spends a ticket.
const SPEND = `
local value = redis.call('GET', KEYS[1])
if not value then return false end
redis.call('DEL', KEYS[1])
local held = cjson.decode(value)
redis.call('ZREM', ARGV[1] .. held.holder, ARGV[3])
redis.call('ZREM', ARGV[2], ARGV[3])
return value`

interface Held { grant: TicketGrant, holder: string, expires: number }

export interface RedisTicketStoreOptions {
  ttlMs: number
  maxPerHolder: number
  maxTotal: number
  prefix: string
}

export class RedisTicketStore implements TicketStore {
  constructor (private readonly redis: Redis, private readonly options: RedisTicketStoreOptions) {
    redis.defineCommand('boltIssueTicket', { lua: ISSUE, numberOfKeys: 3 })
    redis.defineCommand('boltSpendTicket', { lua: SPEND, numberOfKeys: 1 })
  }

  private get scripts (): { boltIssueTicket: (...a: Array<string | number>) => Promise<number>, boltSpendTicket: (...a: string[]) => Promise<string | null> } {
    return this.redis as never
  }

  async issue (grant: TicketGrant, holder: string): Promise<{ ticket: string, expiresAt: string } | null> {
    const ticket = randomBytes(32).toString('base64url')
    const now = Date.now()
    const expires = now + this.options.ttlMs
    const held: Held = { grant: { ...grant, scopes: [...grant.scopes] }, holder, expires }
    const member = key(ticket)
    const issued = await guarded(() => this.scripts.boltIssueTicket(
      this.ticketKey(member), this.holderKey(holder), this.allKey(),
      now, expires, 2 * this.options.ttlMs, this.options.maxPerHolder, this.options.maxTotal, member, JSON.stringify(held)))
    return issued === 1 ? { ticket, expiresAt: new Date(expires).toISOString() } : null
  }

  async redeem (ticket: string, executionId: string): Promise<Redemption> {
    if (!TICKET_PATTERN.test(ticket)) return { ok: false, reason: 'unknown' }
    const member = key(ticket)
    const value = await guarded(() => this.scripts.boltSpendTicket(this.ticketKey(member), this.holderKey(''), this.allKey(), member))
    return judge(value, executionId)
  }

  async check (ticket: string, executionId: string): Promise<Redemption> {
    if (!TICKET_PATTERN.test(ticket)) return { ok: false, reason: 'unknown' }
    return judge(await guarded(() => this.redis.get(this.ticketKey(key(ticket)))), executionId)
  }

  close (): void {}

  private ticketKey (member: string): string {
    return `${this.options.prefix}ticket:${member}`
  }

  private holderKey (holder: string): string {
    return `${this.options.prefix}tickets:holder:${holder}`
  }

  private allKey (): string {
    return `${this.options.prefix}tickets:all`
  }
}

function judge (value: string | null, executionId: string): Redemption {
  if (value === null) return { ok: false, reason: 'unknown' }
  const held = JSON.parse(value) as Held
  if (held.expires <= Date.now()) return { ok: false, reason: 'expired' }
  if (held.grant.executionId !== executionId) return { ok: false, reason: 'other-execution' }
  return { ok: true, grant: held.grant }
}

function key (ticket: string): string {
  return sha256(ticket).toString('base64url')
}
