import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

// Request ids: a caller's `X-Request-Id` is kept when it is a sane token (so one id follows a
// call through the proxy, the caller's logs and ours), else a new UUID is made. Never echoed
// unchecked: it goes into log lines and a response header.

export const REQUEST_ID_HEADER = 'x-request-id'
/** Letters, digits and `-_.:/+=@` (UUIDs, ULIDs, base64, `host/123`); at most 128 characters. */
const ACCEPTED = /^[A-Za-z0-9\-_.:/+=@]{1,128}$/

/** The id of a request: its valid X-Request-Id, else a new UUID. */
export function requestId (req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER]
  return typeof given === 'string' && ACCEPTED.test(given) ? given : randomUUID()
}

const EXECUTION_URL = /^\/api\/executions\/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[/?#]|$)/

/** The execution a request URL is about, if any (for its log lines, from the first one on). */
export function executionIdOf (url: string | undefined): string | undefined {
  const match = url === undefined ? null : EXECUTION_URL.exec(url)
  return match === null ? undefined : match[1].toLowerCase()
}
