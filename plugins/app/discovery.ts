import fp from 'fastify-plugin'
import { DiscoveryService } from '../../services/discovery/discovery-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Tasks, plans, targets and groups as Bolt reports them, cached (DISCOVERY_CACHE_TTL_MS). */
    discovery: DiscoveryService
  }
}

// Discovery runs Bolt beside the executions, never in their queue. Closing ends its running Bolt
// processes (whole process groups) before the app is gone.
export default fp(async function discovery (fastify) {
  const { config } = fastify
  const service = new DiscoveryService({
    boltPath: config.boltPath,
    env: config.boltEnv,
    projectDir: config.boltProject,
    timeoutMs: config.discoveryTimeoutMs,
    cacheTtlMs: config.discoveryCacheTtlMs,
    killGraceMs: config.boltKillGraceMs,
    logger: fastify.log
  })
  fastify.decorate('discovery', service)
  fastify.addHook('onClose', async () => service.close())
}, { name: 'discovery', fastify: '5.x', dependencies: ['config', 'bolt'] })
