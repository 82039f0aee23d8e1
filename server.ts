import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import app, { serverOptions } from './app.js'
import { loadConfig, type Config } from './services/config/load-config.js'

let config: Config
try {
  config = loadConfig()
} catch (err) {
  console.error(`bolt-stream: ${(err as Error).message}`)
  process.exit(1)
}

const server = Fastify(serverOptions(config))
try {
  await server.register(app, { config })
  await server.ready()
} catch (err) {
  // Our own start-up errors (an unusable DATABASE_PATH, …) name the setting: no stack trace for those.
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && code.startsWith('BOLT_STREAM_')) console.error(`bolt-stream: ${(err as Error).message}`)
  else console.error('bolt-stream: start-up failed:', err)
  process.exit(1)
}

// The grace period, then the SIGTERM→SIGKILL escalation of the last Bolt groups, then slack.
const delay = config.shutdownGraceMs + config.boltKillGraceMs + 10_000
closeWithGrace({ delay, logger: server.log }, async ({ signal, err }) => {
  if (err !== undefined) server.log.error({ err }, 'shutting down after an error')
  else server.log.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down')
  // Readiness fails and new executions get 503 at once; GETs and streams go on meanwhile.
  await server.executions.drain(config.shutdownGraceMs)
  await server.close()
})

try {
  await server.listen({ host: config.host, port: config.port })
} catch (err) {
  server.log.error({ err }, 'could not listen')
  process.exit(1)
}
