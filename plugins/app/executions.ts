import fp from 'fastify-plugin'
import { ExecutionService } from '../../services/executions/execution-service.js'
import { reconcileInterrupted } from '../../services/executions/reconcile.js'

declare module 'fastify' {
  interface FastifyInstance {
    executions: ExecutionService
  }
}

export default fp(async function executions (fastify) {
  const { config } = fastify
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
    logger: fastify.log
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
  fastify.addHook('onClose', async () => service.drain(0))
}, { name: 'executions', fastify: '5.x', dependencies: ['config', 'store', 'streaming', 'bolt'] })
