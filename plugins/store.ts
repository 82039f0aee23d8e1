import fp from 'fastify-plugin'
import type { ExecutionStore } from '../services/execution-store.js'
import { MemoryStore } from '../services/memory-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    store: ExecutionStore
  }
}

export default fp(async function store (fastify) {
  const store = new MemoryStore({
    maxExecutions: fastify.config.historyMaxExecutions,
    maxBytes: fastify.config.historyMaxBytes
  })
  fastify.decorate('store', store)
  fastify.addHook('onClose', async () => store.close())
}, { name: 'store', fastify: '5.x', dependencies: ['config'] })
