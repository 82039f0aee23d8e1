import fp from 'fastify-plugin'
import { ExecutionService } from '../../services/executions/execution-service.js'
import { reconcileInterrupted } from '../../services/executions/reconcile.js'
import { SharedWork } from '../../services/cluster/shared-work.js'
import type { RedisStore } from '../../services/store/redis-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    executions: ExecutionService
  }
}

export default fp(async function executions (fastify) {
  const { config } = fastify
  const shared = fastify.store.kind === 'redis'
    ? new SharedWork({ store: fastify.store as RedisStore, leaseTtlMs: config.leaseTtlMs, maxQueued: config.maxQueuedExecutions, logger: fastify.log })
    : undefined
  const service = new ExecutionService({
    store: fastify.store,
    manager: fastify.streaming,
    runner: fastify.bolt,
    args: { projectDir: config.boltProject, puppetAgentCommand: config.puppetAgentCommand, puppetRunAs: config.puppetRunAs },
    timeoutMs: config.executionTimeoutMs,
    maxOutputBytes: config.maxOutputBytes,
    maxConcurrent: config.maxConcurrentExecutions,
    maxQueued: config.maxQueuedExecutions,
    commandAllowlist: config.commandAllowlist,
    taskAllowlist: config.taskAllowlist,
    planAllowlist: config.planAllowlist,
    logger: fastify.log,
    observer: fastify.metrics?.executions,
    shared,
    callbacksFor: (id) => fastify.outputBuffering.wrap(fastify.streaming.callbacksFor(id)),
    killGraceMs: config.boltKillGraceMs
  })
  fastify.decorate('executions', service)
  const allowlists = [['COMMAND_ALLOWLIST', 'command', config.commandAllowlist], ['TASK_ALLOWLIST', 'task', config.taskAllowlist], ['PLAN_ALLOWLIST', 'plan', config.planAllowlist]] as const
  for (const [name, what, pattern] of allowlists) {
    if (pattern === null) fastify.log.info(`${name} is not set: every valid ${what} may run`)
    else fastify.log.info({ pattern: pattern.source }, `${name} in force`)
  }
  // Before anything new starts: what a previous run left running is ended and marked. With a
  // shared store, others' executions are running: leases tell the dead ones instead.
  if (fastify.store.kind !== 'redis') await reconcileInterrupted(fastify.store, { killGraceMs: config.boltKillGraceMs, logger: fastify.log })
  // server.ts drains with the grace period before closing; when closed directly
  // (tests, embedding) nothing may outlive the instance: cancel at once.
  if (shared !== undefined) {
    await shared.start(service.sharedHandlers())
    fastify.log.info({ replica: shared.replica }, 'taking work from the shared queue')
  }
  fastify.addHook('onClose', async () => {
    await service.drain(0)
    await shared?.close()
  })
}, { name: 'executions', fastify: '5.x', dependencies: ['config', 'store', 'streaming', 'output-buffering', 'bolt', 'metrics'] })
