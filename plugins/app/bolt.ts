import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import { BoltRunner } from '../../services/bolt/runner.js'

declare module 'fastify' {
  interface FastifyInstance {
    bolt: BoltRunner
    /** The last result of `bolt --version`, refreshed in the background. */
    boltStatus: () => BoltStatus
  }
}

export type BoltStatus =
  | { state: 'unknown' }
  | { state: 'ok', version: string, checkedAt: string }
  | { state: 'error', message: string, checkedAt: string }

export default fp(async function bolt (fastify) {
  const { config } = fastify
  if (config.boltProjectIsDefault && !existsSync(join(config.boltProject, 'bolt-project.yaml'))) {
    // A project of our own keeps Bolt's debug log and state away from anyone else's.
    mkdirSync(config.boltProject, { recursive: true })
    writeFileSync(join(config.boltProject, 'bolt-project.yaml'), 'name: bolt_stream\nanalytics: false\n')
  }
  const runner = new BoltRunner({
    boltPath: config.boltPath,
    env: config.boltEnv,
    killGraceMs: config.boltKillGraceMs,
    logger: fastify.log
  })
  fastify.decorate('bolt', runner)

  let status: BoltStatus = { state: 'unknown' }
  let probing: Promise<void> | null = null
  const closing = new AbortController()
  const check = async (): Promise<void> => {
    try {
      const version = await runner.version(undefined, closing.signal)
      if (status.state !== 'ok') fastify.log.info({ version }, 'Bolt found')
      status = { state: 'ok', version, checkedAt: new Date().toISOString() }
    } catch (err) {
      if (closing.signal.aborted) return
      const message = (err as Error).message
      if (status.state !== 'error' || status.message !== message) fastify.log.warn({ reason: message }, 'Bolt is not usable')
      status = { state: 'error', message, checkedAt: new Date().toISOString() }
    }
  }
  const probe = async (): Promise<void> => {
    probing ??= check().finally(() => { probing = null })
    await probing
  }
  fastify.decorate('boltStatus', () => status)

  // Real Bolt takes seconds to answer, so readiness reads a cached result.
  let timer: NodeJS.Timeout | undefined
  fastify.addHook('onReady', async () => {
    void probe()
    timer = setInterval(() => { void probe() }, config.boltProbeIntervalMs)
    timer.unref()
  })
  // A probe under way is a Bolt process: it ends (and is waited for) with the app.
  fastify.addHook('onClose', async () => {
    clearInterval(timer)
    closing.abort()
    await probing
  })
}, { name: 'bolt', fastify: '5.x', dependencies: ['config'] })
