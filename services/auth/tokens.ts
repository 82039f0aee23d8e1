import { createHash, timingSafeEqual } from 'node:crypto'
import { TokenListError } from '../errors.js'

// API tokens. The service keeps only the SHA-256 of each token; a presented token is hashed
// and compared with every known hash in constant time, so neither the answer nor its timing
// says how close a guess came or which token it resembled.

export const SCOPES = ['read', 'execute', 'expert'] as const
export type Scope = (typeof SCOPES)[number]

export interface TokenEntry {
  name: string
  scopes: Scope[]
  /** SHA-256 of the token, 32 bytes. */
  hash: Buffer
}

/** Who a request acts for. In open mode (no tokens configured) it is anonymous with every scope. */
export interface Principal {
  /** The token's name; null when anonymous (open mode). */
  name: string | null
  scopes: ReadonlySet<Scope>
}

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/
const HASH_PATTERN = /^[0-9a-f]{64}$/i

export { TokenListError }

export function sha256 (text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/**
 * Reads token lines `name scope1,scope2 sha256-hex` (newline- or `;`-separated; blank lines
 * and `#` comments skipped). Throws TokenListError naming the entry, never echoing a hash.
 */
export function parseTokenList (text: string, source: string): TokenEntry[] {
  const entries: TokenEntry[] = []
  const lines = text.split(/[\n;]/)
  lines.forEach((raw, index) => {
    const line = raw.replace(/\r$/, '').trim()
    if (line === '' || line.startsWith('#')) return
    const where = `${source} entry ${index + 1}`
    const fields = line.split(/\s+/)
    if (fields.length !== 3) throw new TokenListError(`${where} must be "name scope1,scope2 sha256-hex" (found ${fields.length} fields)`)
    const [name, scopeList, hash] = fields
    if (!NAME_PATTERN.test(name)) throw new TokenListError(`${where}: the name ${JSON.stringify(name.slice(0, 64))} must be 1-64 letters, digits, _ . @ or -`)
    const scopes: Scope[] = []
    for (const scope of scopeList.split(',')) {
      if (!(SCOPES as readonly string[]).includes(scope)) {
        throw new TokenListError(`${where} (${name}): unknown scope ${JSON.stringify(scope.slice(0, 32))}; scopes are ${SCOPES.join(', ')}`)
      }
      if (!scopes.includes(scope as Scope)) scopes.push(scope as Scope)
    }
    if (!HASH_PATTERN.test(hash)) throw new TokenListError(`${where} (${name}): the third field must be the 64-hex-digit SHA-256 of the token, not the token itself`)
    entries.push({ name, scopes, hash: Buffer.from(hash, 'hex') })
  })
  return entries
}

/** Checks that names and hashes are unique across all sources. */
export function checkTokenList (entries: TokenEntry[]): void {
  const names = new Set<string>()
  const hashes = new Set<string>()
  for (const entry of entries) {
    if (names.has(entry.name)) throw new TokenListError(`the token name ${JSON.stringify(entry.name)} is used twice`)
    const hex = entry.hash.toString('hex')
    if (hashes.has(hex)) throw new TokenListError(`the token of ${JSON.stringify(entry.name)} is also another name's token`)
    names.add(entry.name)
    hashes.add(hex)
  }
}

export type Authentication =
  | { ok: true, principal: Principal }
  | { ok: false, reason: 'missing' | 'malformed' | 'invalid' }

const ANONYMOUS: Principal = Object.freeze({ name: null, scopes: new Set<Scope>(SCOPES) })

/** A principal with the given scopes, as bound into a stream ticket. */
export function principalOf (name: string | null, scopes: Iterable<Scope>): Principal {
  return { name, scopes: new Set(scopes) }
}

export class Authenticator {
  private readonly entries: Array<{ name: string, hash: Buffer, principal: Principal }>
  /** Results per request, so a request's token is hashed and checked once. */
  private readonly memo = new WeakMap<object, Authentication>()

  constructor (tokens: TokenEntry[]) {
    checkTokenList(tokens)
    this.entries = tokens.map((t) => ({ name: t.name, hash: t.hash, principal: principalOf(t.name, t.scopes) }))
  }

  /** No tokens configured: every request is anonymous with every scope. */
  get open (): boolean {
    return this.entries.length === 0
  }

  get tokenCount (): number {
    return this.entries.length
  }

  /**
   * Authenticates `header` once for `request` (any object standing for it): the rate limiter,
   * which keys POSTs by token, and the access check share the result.
   */
  authenticateOnce (request: object, header: string | undefined): Authentication {
    let result = this.memo.get(request)
    if (result === undefined) {
      result = this.authenticate(header)
      this.memo.set(request, result)
    }
    return result
  }

  /** Authenticates an `Authorization` header value. */
  authenticate (header: string | undefined): Authentication {
    if (this.open) return { ok: true, principal: ANONYMOUS }
    if (header === undefined || header === '') return { ok: false, reason: 'missing' }
    const match = /^Bearer +([\x21-\x7e]{1,4096})\s*$/i.exec(header)
    if (match === null) return { ok: false, reason: 'malformed' }
    const presented = sha256(match[1])
    let found: Principal | null = null
    // Every entry is compared, whatever matched, so the time taken does not depend on which.
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.hash, presented) && found === null) found = entry.principal
    }
    return found === null ? { ok: false, reason: 'invalid' } : { ok: true, principal: found }
  }
}
