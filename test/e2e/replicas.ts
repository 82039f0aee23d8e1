import { STAND_IN, startServer, type ServerProcess } from '../helper.js'
import type { TestRedis } from '../redis-server.js'

// Service processes sharing one redis-server (STORE=redis): the replicas of the scale-out tests.

interface Teardown { teardown: (fn: () => unknown) => void }

/** Starts server.ts with STORE=redis on `redis`; killed at teardown. */
export async function startReplica (t: Teardown, redis: TestRedis, dir: string, extra: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServer({
    STORE: 'redis',
    REDIS_URL: redis.url,
    BOLT_PATH: STAND_IN,
    BOLT_PROJECT: dir,
    BOLT_KILL_GRACE_MS: '500',
    SHUTDOWN_GRACE_MS: '0',
    ...extra
  })
  t.teardown(async () => {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      // SIGTERM: it cancels what it runs and ends their Bolt groups (SHUTDOWN_GRACE_MS=0); a
      // SIGKILL here left held Bolt processes running after the test file.
      server.child.kill('SIGTERM')
      const killer = setTimeout(() => server.child.kill('SIGKILL'), 10_000)
      await server.exited
      clearTimeout(killer)
    }
  })
  return server
}
