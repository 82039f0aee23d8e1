import fp from 'fastify-plugin'
import { SseConnections } from '../../services/streaming/sse-connections.js'
import { StreamManager } from '../../services/streaming/stream-manager.js'
import { SharedStreamSlots } from '../../services/cluster/stream-slots.js'
import type { RedisStore } from '../../services/store/redis-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The stream manager: event log, replay and live fan-out of every execution. */
    streaming: StreamManager
    /** Open SSE connections, with the one heartbeat timer they share. */
    sseConnections: SseConnections
    /** STORE=redis: MAX_STREAMS_PER_CLIENT counted across the replicas; null otherwise. */
    sharedStreamSlots: SharedStreamSlots | null
  }
}

export default fp(async function streaming (fastify) {
  const manager = new StreamManager(fastify.store, {
    logger: fastify.log,
    stallTimeoutMs: fastify.config.streamStallTimeoutMs,
    onStored: fastify.metrics?.stored
  })
  const connections = new SseConnections(fastify.config.streamHeartbeatMs, {
    maxStreams: fastify.config.maxStreams,
    maxStreamsPerClient: fastify.config.maxStreamsPerClient
  })
  fastify.decorate('streaming', manager)
  fastify.decorate('sseConnections', connections)
  const { store } = fastify
  const slots = store.kind === 'redis'
    ? new SharedStreamSlots((store as RedisStore).redis, (store as RedisStore).prefix, fastify.config.maxStreamsPerClient)
    : null
  fastify.decorate('sharedStreamSlots', slots)
  fastify.addHook('onClose', async () => slots?.close())
  // preClose: the server waits for open connections before onClose hooks run.
  fastify.addHook('preClose', async () => connections.endAll())
}, { name: 'streaming', fastify: '5.x', dependencies: ['config', 'store', 'metrics'] })
