import { Type, type Static } from '@sinclair/typebox'

export const StreamQuery = Type.Object({
  lastEventId: Type.Optional(Type.String({ maxLength: 32, description: 'Resume after this id (the Last-Event-ID header wins)' })),
  ticket: Type.Optional(Type.String({ maxLength: 64, description: 'A stream ticket (POST …/stream-ticket)' }))
}, { description: 'Open: EventSource polyfills and proxies add cache-busting parameters' })

export const StreamTicket = Type.Object({
  ticket: Type.String({ description: 'Single use, for this execution only' }),
  expiresAt: Type.String({ format: 'date-time' }),
  streamUrl: Type.String({ description: 'The stream URL with the ticket' })
})
export type StreamTicket = Static<typeof StreamTicket>

export const StreamingStats = Type.Object({
  activeExecutions: Type.Integer({ description: 'Executions running now on this replica' }),
  queuedExecutions: Type.Integer({
    description: 'Executions waiting for a free slot; with STORE=redis, in the whole cluster (the shared queue). ' +
      'Every other figure is this replica\'s'
  }),
  subscribers: Type.Integer({ description: 'Open SSE connections' }),
  liveChannels: Type.Integer({ description: 'Executions with a live event channel' }),
  liveSubscribers: Type.Integer({ description: 'Subscribers attached to live channels' }),
  bufferedBytes: Type.Integer({ description: 'Bytes written to open streams that their clients have not read yet' }),
  maxBufferedBytes: Type.Integer({ description: 'The same, for the stream holding most' }),
  storeCacheBytes: Type.Integer({
    description: 'Estimated heap bytes of event logs the store holds in memory: STORE=sqlite, its recent-log cache ' +
      '(at most STORE_CACHE_MAX_BYTES); STORE=memory, its history (at most HISTORY_MAX_BYTES)'
  })
})
export type StreamingStats = Static<typeof StreamingStats>
