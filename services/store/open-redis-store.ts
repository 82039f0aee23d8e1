import { connectRedis } from './redis-connection.js'
import { RedisStore } from './redis-store.js'

/** The store of STORE=redis: connects (throwing StoreOpenError naming REDIS_URL) and opens its tail. */
export async function openRedisStore (url: string, prefix: string): Promise<RedisStore> {
  const redis = await connectRedis(url, 'bolt-stream')
  try {
    return await RedisStore.open(redis, { prefix })
  } catch (err) {
    redis.disconnect()
    throw err
  }
}
