import { randomBytes } from 'node:crypto'
import { sha256, type Scope } from './tokens.js'

// Stream tickets let a browser's EventSource, which cannot send an Authorization header,
// open one stream: a random, single-use value that stands for a token's name and scopes,
// bound to one execution, for a short while. The ticket never contains or reveals the token.
// Kept by the SHA-256 of the ticket; the async interface leaves room for a shared store
// (several replicas) later.

export interface TicketGrant {
  executionId: string
  /** Name of the token it was issued to; null in open mode. */
  name: string | null
  scopes: Scope[]
}

export type Redemption =
  | { ok: true, grant: TicketGrant }
  | { ok: false, reason: 'unknown' | 'expired' | 'other-execution' }

export interface TicketStore {
  /**
   * Issues a ticket to `holder` (who the per-holder bound counts against); null when the holder,
   * or everyone together, already has as many outstanding as allowed.
   */
  issue: (grant: TicketGrant, holder: string) => Promise<{ ticket: string, expiresAt: string } | null>
  /** Redeems a ticket for `executionId`. Any attempt uses it up, whatever the outcome. */
  redeem: (ticket: string, executionId: string) => Promise<Redemption>
  /** What `redeem` would answer, leaving the ticket as it is (a HEAD opens no stream). */
  check: (ticket: string, executionId: string) => Promise<Redemption>
  close: () => void
}

export interface MemoryTicketStoreOptions {
  ttlMs: number
  /** Outstanding tickets per holder (token name, or the address in open mode). */
  maxPerHolder: number
  /** Outstanding tickets in all. */
  maxTotal: number
  now?: () => number
  /** How often expired tickets are swept; max(1 s, ttlMs) by default. */
  sweepIntervalMs?: number
}

interface Held {
  grant: TicketGrant
  holder: string
  expires: number
}

/** Outstanding tickets per holder and in all (each is about 200 bytes). */
export const MAX_TICKETS_PER_HOLDER = 1000
export const MAX_TICKETS = 100_000

export const TICKET_PATTERN = /^[A-Za-z0-9_-]{43}$/

export class MemoryTicketStore implements TicketStore {
  private readonly tickets = new Map<string, Held>()
  private readonly perHolder = new Map<string, number>()
  private readonly sweeper: NodeJS.Timeout
  private readonly now: () => number

  constructor (private readonly options: MemoryTicketStoreOptions) {
    this.now = options.now ?? Date.now
    // A ticket is kept for one more TTL after it expires, so a late attempt is told "expired"
    // rather than "unknown" (which would suggest a mistyped ticket).
    this.sweeper = setInterval(() => this.sweep(options.ttlMs), options.sweepIntervalMs ?? Math.max(1000, options.ttlMs))
    this.sweeper.unref()
  }

  async issue (grant: TicketGrant, holder: string): Promise<{ ticket: string, expiresAt: string } | null> {
    const full = (): boolean => this.tickets.size >= this.options.maxTotal || (this.perHolder.get(holder) ?? 0) >= this.options.maxPerHolder
    // Expired tickets are still held a while: they never count against the bounds.
    if (full()) this.sweep(0)
    if (full()) return null
    // 32 random bytes: 43 base64url characters, safe in a query string as they are.
    const ticket = randomBytes(32).toString('base64url')
    const expires = this.now() + this.options.ttlMs
    this.tickets.set(key(ticket), { grant: { ...grant, scopes: [...grant.scopes] }, holder, expires })
    this.perHolder.set(holder, (this.perHolder.get(holder) ?? 0) + 1)
    return { ticket, expiresAt: new Date(expires).toISOString() }
  }

  async redeem (ticket: string, executionId: string): Promise<Redemption> {
    return this.look(ticket, executionId, true)
  }

  async check (ticket: string, executionId: string): Promise<Redemption> {
    return this.look(ticket, executionId, false)
  }

  private look (ticket: string, executionId: string, useUp: boolean): Redemption {
    if (!TICKET_PATTERN.test(ticket)) return { ok: false, reason: 'unknown' }
    const k = key(ticket)
    const held = this.tickets.get(k)
    if (held === undefined) return { ok: false, reason: 'unknown' }
    if (useUp) this.remove(k, held)
    if (held.expires <= this.now()) return { ok: false, reason: 'expired' }
    if (held.grant.executionId !== executionId) return { ok: false, reason: 'other-execution' }
    return { ok: true, grant: held.grant }
  }

  /** Tickets held, expired ones included until they are swept. */
  get size (): number {
    return this.tickets.size
  }

  close (): void {
    clearInterval(this.sweeper)
    this.tickets.clear()
    this.perHolder.clear()
  }

  private remove (k: string, held: Held): void {
    this.tickets.delete(k)
    const left = (this.perHolder.get(held.holder) ?? 1) - 1
    if (left <= 0) this.perHolder.delete(held.holder)
    else this.perHolder.set(held.holder, left)
  }

  /** Removes the tickets that expired at least `expiredForMs` ago. */
  private sweep (expiredForMs: number): void {
    const cutoff = this.now() - expiredForMs
    for (const [k, held] of this.tickets) {
      if (held.expires <= cutoff) this.remove(k, held)
    }
  }
}

function key (ticket: string): string {
  return sha256(ticket).toString('base64url')
}
