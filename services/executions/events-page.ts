import type { LoggedEvent } from '../../schemas/index.js'
import type { ExecutionStore } from '../store/execution-store.js'
import { eventFor } from './visibility.js'

/**
 * A page of the logged events after `after` that the reader may see: hidden events are skipped
 * but their seqs passed, so a page holds up to `limit` visible events.
 */
export async function visibleEvents (store: ExecutionStore, id: string, after: number, limit: number, expert: boolean): Promise<{ events: LoggedEvent[], nextAfter: number }> {
  const events: LoggedEvent[] = []
  let next = after
  for (;;) {
    const page = await store.readEvents(id, next, limit)
    for (const event of page) {
      next = event.seq
      const seen = eventFor(event, expert)
      // The log holds only well-formed events (the stream manager writes them).
      if (seen !== null) events.push(seen as LoggedEvent)
      if (events.length === limit) break
    }
    if (events.length === limit || page.length < limit) break
  }
  return { events, nextAfter: next }
}
