// Answers kept for a while, and one load per key at a time: callers that ask while a load runs
// share it (single flight), `refresh` skips the kept answer but still joins a load in progress
// (it began after the kept answer, so it is as fresh as a new one). Failures a caller says are
// answers (an unknown task) are kept like values; others (a timeout) are not.

type Outcome<T> = { ok: true, value: T } | { ok: false, error: unknown }

export interface CacheOptions {
  ttlMs: number
  /** Entries kept at most; the oldest go first (names are the caller's, so the count is bounded here). */
  maxEntries: number
  /** Whether a failure is an answer worth keeping. */
  keepFailure?: (error: unknown) => boolean
  now?: () => number
}

export class SingleFlightCache<T> {
  private readonly entries = new Map<string, { outcome: Outcome<T>, expiresAt: number }>()
  private readonly inflight = new Map<string, Promise<T>>()
  private readonly now: () => number

  constructor (private readonly options: CacheOptions) {
    this.now = options.now ?? Date.now
  }

  get (key: string, load: () => Promise<T>, refresh = false): Promise<T> {
    const running = this.inflight.get(key)
    if (running !== undefined) return running
    const kept = refresh ? undefined : this.entries.get(key)
    if (kept !== undefined && kept.expiresAt > this.now()) {
      return kept.outcome.ok ? Promise.resolve(kept.outcome.value) : Promise.reject(kept.outcome.error)
    }
    const loading = load().then((value) => {
      this.keep(key, { ok: true, value })
      return value
    }, (error: unknown) => {
      // A passing failure (a timeout) leaves an answer kept earlier in place.
      if (this.options.keepFailure?.(error) === true) this.keep(key, { ok: false, error })
      throw error
    }).finally(() => this.inflight.delete(key))
    this.inflight.set(key, loading)
    return loading
  }

  /** Loads running now (for tests and stats). */
  get loading (): number {
    return this.inflight.size
  }

  clear (): void {
    this.entries.clear()
  }

  private keep (key: string, outcome: Outcome<T>): void {
    if (this.options.ttlMs <= 0) return
    this.entries.delete(key)
    this.entries.set(key, { outcome, expiresAt: this.now() + this.options.ttlMs })
    while (this.entries.size > this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!)
  }
}
