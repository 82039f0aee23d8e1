import type { ErrorResponse } from '../schemas/index.js'

export interface BoltStreamErrorOptions {
  status?: number
  code?: string
  kind?: string
  retryAfterMs?: number
  cause?: unknown
}

/**
 * Every failure of the client: an API answer (`status`, the API's `code` and message), or a
 * connection that could not be made (`code` is the system's, like `ECONNREFUSED`, and no `status`).
 */
export class BoltStreamError extends Error {
  status?: number
  code?: string
  /** Bolt's error kind, when Bolt's answer was the cause (discovery). */
  kind?: string
  /** From `Retry-After`, on 429 and 503. */
  retryAfterMs?: number

  constructor (message: string, options: BoltStreamErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'BoltStreamError'
    this.status = options.status
    this.code = options.code
    this.kind = options.kind
    this.retryAfterMs = options.retryAfterMs
  }
}

/** `Retry-After` as milliseconds: delay-seconds or an HTTP date. */
export function parseRetryAfter (value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** The error of a non-2xx answer, from the API's `{error: {code, message}}` when it has one. */
export async function errorFromResponse (res: Response): Promise<BoltStreamError> {
  const text = await res.text().catch(() => '')
  let body: Partial<ErrorResponse> | undefined
  try { body = JSON.parse(text) } catch { body = undefined }
  const error = body?.error
  const message = typeof error?.message === 'string' ? error.message : `HTTP ${res.status}${text.length > 0 ? `: ${text.slice(0, 200)}` : ''}`
  return new BoltStreamError(message, {
    status: res.status,
    code: typeof error?.code === 'string' ? error.code : undefined,
    kind: typeof error?.kind === 'string' ? error.kind : undefined,
    retryAfterMs: parseRetryAfter(res.headers.get('retry-after'))
  })
}

/** A failed `fetch` (no answer): its system code (`ECONNREFUSED`, …) when the runtime gives one. */
export function networkError (err: unknown, url: string): BoltStreamError {
  const cause = (err as { cause?: { code?: unknown, message?: unknown } }).cause
  const code = typeof cause?.code === 'string' ? cause.code : 'NETWORK_ERROR'
  const detail = typeof cause?.message === 'string' ? cause.message : (err as Error).message
  return new BoltStreamError(`Cannot reach ${url}: ${detail}`, { code, cause: err })
}

/** Answers that another attempt cannot change: bad input, credentials, scope, unknown execution. */
export function isRetryable (err: BoltStreamError): boolean {
  if (err.status === undefined) return true
  return err.status === 408 || err.status === 429 || err.status >= 500
}
