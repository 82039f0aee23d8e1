export interface BackoffOptions {
  /** The first delay's upper bound, and the least any delay is (ms). */
  minMs: number
  /** No delay is longer (ms). */
  maxMs: number
  /** A number in [0, 1): injectable for tests. */
  random?: () => number
}

export const DEFAULT_MIN_BACKOFF_MS = 250
export const DEFAULT_MAX_BACKOFF_MS = 15_000

/**
 * The delay before reconnection `attempt` (1, 2, …): exponential with full jitter, so clients cut
 * at the same moment do not come back together. Uniform in [min, min(max, min × 2^(attempt-1))].
 */
export function backoffDelay (attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random
  const min = Math.max(0, options.minMs)
  const max = Math.max(min, options.maxMs)
  const cap = Math.min(max, min * 2 ** Math.min(Math.max(0, attempt - 1), 52))
  return Math.round(min + random() * (cap - min))
}

/** The delay after a refusal: the server's `Retry-After` when it gave one (never less), else the backoff. */
export function retryDelay (attempt: number, options: BackoffOptions, retryAfterMs?: number): number {
  const backoff = backoffDelay(attempt, options)
  return retryAfterMs === undefined ? backoff : Math.max(retryAfterMs, backoff)
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) { resolve(); return }
    const done = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
