// How discovery runs Bolt (the stand-in, a real process; its spawn log counts the runs): answers
// kept for DISCOVERY_CACHE_TTL_MS, one run shared by concurrent requests, `?refresh=true`, a hang
// killed with its whole process group after DISCOVERY_TIMEOUT_MS, and runs ended when the app closes.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, tempDir, until, type TestApp } from '../helper.js'

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Counts the calls of a discovery method, so a test knows every request has reached it. */
function countCalls (app: TestApp['app'], method: 'tasks' | 'task' | 'targets'): () => number {
  let calls = 0
  const service = app.discovery as unknown as Record<string, (...args: unknown[]) => unknown>
  const original = service[method].bind(app.discovery)
  service[method] = (...args: unknown[]) => {
    calls++
    return original(...args)
  }
  return () => calls
}

t.test('concurrent requests share one Bolt run (single flight, with no cache at all)', async (t) => {
  const hold = join(tempDir(t), 'released')
  const { app, spawns } = await build(t, { env: { DISCOVERY_CACHE_TTL_MS: '0' }, standIn: { STANDIN_HOLD_FILE: hold } })
  const calls = countCalls(app, 'tasks')
  const requests = Array.from({ length: 5 }, () => app.inject('/api/tasks'))
  await until(() => calls() === 5 && spawns().length === 1, 10_000, 'all five requests waiting on one run')
  writeFileSync(hold, '')
  const answers = await Promise.all(requests)
  t.same(answers.map((r) => r.statusCode), [200, 200, 200, 200, 200])
  t.equal(new Set(answers.map((r) => r.body)).size, 1, 'one answer for all')
  t.equal(spawns().length, 1, 'one Bolt run for five requests')
  t.equal((await app.inject('/api/tasks')).statusCode, 200)
  t.equal(spawns().length, 2, 'with DISCOVERY_CACHE_TTL_MS=0 a later request runs Bolt again')
})

t.test('answers are kept per command and name; ?refresh=true runs Bolt again and keeps the new answer', async (t) => {
  const { app, config, spawns } = await build(t)
  const first = await app.inject('/api/tasks')
  t.equal(first.statusCode, 200)
  t.equal((await app.inject('/api/tasks')).body, first.body)
  t.equal(spawns().length, 1, 'the second request used the kept answer')
  t.equal((await app.inject('/api/tasks/demo::echo')).statusCode, 200)
  t.equal((await app.inject('/api/tasks/demo::echo')).statusCode, 200)
  t.equal((await app.inject('/api/tasks/demo::sleep')).statusCode, 200)
  t.equal(spawns().length, 3, 'one run per task name')
  t.same(spawns()[1].argv, ['task', 'show', '--format=json', `--project=${config.boltProject}`, '--', 'demo::echo'], 'the name after --')
  t.ok(spawns()[1].env.includes('BOLT_DISABLE_ANALYTICS'), "the executions' Bolt environment")

  // A task added to the project: the kept answer does not know it, a refresh does.
  writeFileSync(join(config.boltProject, 'modules/demo/tasks/added.sh'), '#!/bin/sh\necho added\n')
  t.notOk((await app.inject('/api/tasks')).json().some((x: any) => x.name === 'demo::added'), 'kept answer')
  t.equal(spawns().length, 3)
  const refreshed = await app.inject('/api/tasks?refresh=true')
  t.ok(refreshed.json().some((x: any) => x.name === 'demo::added'), 'refresh asked Bolt')
  t.equal(spawns().length, 4)
  t.ok((await app.inject('/api/tasks')).json().some((x: any) => x.name === 'demo::added'), 'the refreshed answer is kept')
  t.equal(spawns().length, 4)
  t.same(spawns().map((s) => s.argv.slice(0, 2).join(' ')), ['task show', 'task show', 'task show', 'task show'])
})

t.test('/api/targets and ?group= share one kept inventory', async (t) => {
  const { app, spawns } = await build(t)
  t.equal((await app.inject('/api/targets')).statusCode, 200)
  const group = await app.inject('/api/targets?group=unreachable')
  t.equal(group.json().length, 6)
  t.equal(spawns().length, 1, 'the group was filtered from the kept inventory')
  t.same(spawns()[0].argv.slice(0, 3), ['inventory', 'show', '--format=json'])
  t.ok(spawns()[0].argv.includes('--detail'))
})

t.test('a Bolt that hangs is killed with its process group after DISCOVERY_TIMEOUT_MS → 504', async (t) => {
  const { app, spawns } = await build(t, {
    env: { DISCOVERY_TIMEOUT_MS: '1000' },
    // It sleeps, and ignores SIGTERM: only the SIGKILL that follows ends it.
    standIn: { STANDIN_STARTUP_DELAY_MS: '600000', STANDIN_IGNORE_SIGTERM: '1' }
  })
  const started = Date.now()
  const res = await app.inject('/api/groups')
  const took = Date.now() - started
  t.equal(res.statusCode, 504)
  t.equal(res.json().error.code, 'BOLT_STREAM_BOLT_TIMEOUT')
  t.equal(res.json().error.kind, 'bolt-stream/timeout')
  t.match(res.json().error.message, /within 1000 ms/)
  t.ok(took >= 1000, `answered after ${took} ms`)
  const [spawn] = spawns()
  t.equal(spawn.pgid, spawn.pid, 'Bolt led its own process group')
  t.notOk(isAlive(spawn.pid), 'the process is gone when the answer comes')
})

t.test('closing the app ends running discovery runs; their requests get 503', async (t) => {
  const { app, spawns } = await build(t, { standIn: { STANDIN_HOLD_FILE: '/nonexistent/never' } })
  const pending = app.inject('/api/plans')
  await until(() => spawns().length === 1, 10_000, 'the run to start')
  const { pid } = spawns()[0]
  t.ok(isAlive(pid))
  await app.close()
  const res = await pending
  t.equal(res.statusCode, 503)
  t.equal(res.json().error.code, 'BOLT_STREAM_SHUTTING_DOWN')
  t.notOk(isAlive(pid), 'the Bolt process was ended before close() returned')
})
