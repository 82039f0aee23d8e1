import type { Redis, RedisOptions } from 'ioredis'
import { StoreOpenError, StoreUnavailableError } from '../errors.js'

// Connections to the shared Redis. Commands never wait in an offline queue: while Redis is away
// they fail at once (readiness answers 503, a POST 503), and the callers that must not lose
// anything (event appends) retry on their own. ioredis reconnects in the background.

// ioredis is loaded with the first connection: a service on SQLite never loads it (a fifth of
// a second of start-up).
let ioredis: Pick<typeof import('ioredis'), 'Redis' | 'ReplyError'> | null = null

/** Longest pause between reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 1000

export function redisOptions (name: string): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 5000,
    connectionName: name,
    retryStrategy: (times: number) => Math.min(50 * times, MAX_RECONNECT_DELAY_MS)
  }
}

/** Connects to `url`; throws StoreOpenError naming REDIS_URL (without its password) when it cannot. */
export async function connectRedis (url: string, name: string): Promise<Redis> {
  const { Redis: Client } = ioredis ??= await import('ioredis')
  const redis = new Client(url, redisOptions(name))
  // Connection errors are seen by the commands that fail; the event only needs a listener.
  redis.on('error', () => {})
  try {
    await redis.connect()
  } catch (err) {
    redis.disconnect()
    throw new StoreOpenError(`REDIS_URL ${JSON.stringify(safeUrl(url))} cannot be used: ${(err as Error).message}`)
  }
  return redis
}

/** A second connection with the same settings (blocking reads need one of their own). */
export async function duplicateConnection (redis: Redis, name: string): Promise<Redis> {
  const copy = redis.duplicate({ connectionName: name })
  copy.on('error', () => {})
  await copy.connect()
  return copy
}

/** The URL with any password blanked, for messages and logs. */
export function safeUrl (url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(not a URL)'
  }
}

/** True for an error Redis answered (a refused command), false for a lost or absent connection. */
export function isReplyError (err: unknown): boolean {
  // Without a connection nothing can have answered.
  return ioredis !== null && err instanceof ioredis.ReplyError
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms).unref() })

/** Runs `op`; a lost connection becomes a 503 StoreUnavailableError (a refusal by Redis stays as it is). */
export async function guarded<T> (op: () => Promise<T>): Promise<T> {
  try {
    return await op()
  } catch (err) {
    if (isReplyError(err) || (err as { code?: unknown }).code === 'BOLT_STREAM_INVALID_INPUT') throw err
    throw new StoreUnavailableError((err as Error).message)
  }
}

/** Runs `op` until Redis answers it (a refusal rejects at once), or until `stop()` says to give up. */
export async function persistent<T> (op: () => Promise<T>, stop: () => boolean): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await op()
    } catch (err) {
      if (isReplyError(err) || stop()) throw err
      await sleep(Math.min(50 * (attempt + 1), 500))
    }
  }
}
