import { BoltStreamClient } from '../../../client/index.js'
import { token } from './token.svelte.js'

let cached: { token: string, client: BoltStreamClient } | undefined

/** The API client of the current token (same origin: the service serves this page). */
export function api (): BoltStreamClient {
  if (cached === undefined || cached.token !== token.value) {
    cached = { token: token.value, client: new BoltStreamClient({ baseUrl: '', token: token.value === '' ? undefined : token.value }) }
  }
  return cached.client
}

/** A message for people from whatever an API call threw. */
export function errorMessage (err: unknown): string {
  if (err instanceof Error) {
    const { code, status } = err as { code?: unknown, status?: unknown }
    const text = typeof code === 'string' && code !== '' ? `${err.message} (${code})` : err.message
    if (status === 401) return `${text}: paste an API token in the field at the top`
    if (status === 403) return `${text}: your token lacks that scope`
    return text
  }
  return String(err)
}
