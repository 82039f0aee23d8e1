import fp from 'fastify-plugin'
import type { ExecutionStore } from '../../services/store/execution-store.js'
import { MemoryStore } from '../../services/store/memory-store.js'
import { SqliteStore } from '../../services/store/sqlite-store.js'
import { openRedisStore } from '../../services/store/open-redis-store.js'
import { safeUrl } from '../../services/store/redis-connection.js'

declare module 'fastify' {
  interface FastifyInstance {
    store: ExecutionStore
  }
}

const DAY_MS = 86_400_000
/** The first clean-up waits a little, so start-up stays quick. */
const FIRST_PURGE_DELAY_MS = 5000

export default fp(async function store (fastify) {
  const { config } = fastify
  // A bad DATABASE_PATH throws here and stops start-up with a message naming it.
  const store: ExecutionStore = config.store === 'memory'
    ? new MemoryStore({ maxExecutions: config.retentionMaxExecutions, maxBytes: config.historyMaxBytes })
    : config.store === 'redis'
      ? await openRedisStore(config.redisUrl, config.redisKeyPrefix)
      : new SqliteStore(config.databasePath, { cacheMaxBytes: config.storeCacheMaxBytes })
  fastify.decorate('store', store)
  fastify.log.info({ store: store.kind, path: config.store === 'sqlite' ? config.databasePath : undefined, redis: config.store === 'redis' ? safeUrl(config.redisUrl) : undefined }, 'history store open')

  let purging: Promise<unknown> | null = null
  const purge = (): void => {
    if (purging !== null) return
    const policy = {
      startedBefore: new Date(Date.now() - config.retentionDays * DAY_MS).toISOString(),
      maxExecutions: config.retentionMaxExecutions
    }
    purging = store.purge(policy)
      .then((removed) => { if (removed > 0) fastify.log.info({ removed }, 'retention clean-up') })
      .catch((err: unknown) => fastify.log.error({ err }, 'retention clean-up failed'))
      .finally(() => { purging = null })
  }
  const first = setTimeout(purge, FIRST_PURGE_DELAY_MS)
  first.unref()
  const timer = setInterval(purge, config.retentionIntervalMs)
  timer.unref()

  fastify.addHook('onClose', async () => {
    clearTimeout(first)
    clearInterval(timer)
    await purging
    await store.close()
  })
}, { name: 'store', fastify: '5.x', dependencies: ['config'] })
