import { InvalidEventIdError } from '../errors.js'

const EVENT_ID = /^\d{1,15}$/

/** Whether an Accept header admits `text/event-stream` (absent: yes; `q=0` refuses). */
export function acceptsEventStream (accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true
  let best = -1
  let admitted = false
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase())
    const rank = type === 'text/event-stream' ? 3 : type === 'text/*' ? 2 : type === '*/*' ? 1 : -1
    if (rank <= best) continue
    best = rank
    const q = params.find((p) => p.startsWith('q='))
    admitted = q === undefined || Number(q.slice(2)) > 0
  }
  return best > 0 && admitted
}

/** Spaces and tabs around a value: HTTP strips them from a header (RFC 9110 OWS). */
const SURROUNDING_BLANKS = /^[ \t]+|[ \t]+$/g

/**
 * The id a connection resumes after: the `Last-Event-ID` header (sent by EventSource on
 * reconnect) wins over the query (a first connection); 0 for none. One rule for both: spaces
 * and tabs around the number are ignored (HTTP strips them from the header before it reaches
 * us, so the query is read the same way); anything else but a whole number is refused.
 */
export function resumePoint (header: string | string[] | undefined, query: string | undefined): number {
  const fromHeader = typeof header === 'string' ? header.replace(SURROUNDING_BLANKS, '') : ''
  const given = fromHeader !== '' ? fromHeader : query?.replace(SURROUNDING_BLANKS, '')
  if (given === undefined || given === '') return 0
  if (!EVENT_ID.test(given)) throw new InvalidEventIdError(`Last-Event-ID must be a whole number (got ${JSON.stringify(given.slice(0, 32))})`)
  return Number(given)
}
