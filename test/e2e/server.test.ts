import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { groupHasLiveProcess } from '../../services/bolt/process-group.js'
import { ROOT, STAND_IN, getJson, openStream, postJson, startServer, tempDir, until } from '../helper.js'

interface StartUp { code: number | null, signal: string | null, stderr: string, ms: number }

/** Starts server.ts with `env` and waits for it to exit on its own (it is expected to refuse to start). */
async function refusedStartUp (env: Record<string, string>): Promise<StartUp> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const started = Date.now()
  // The bound only turns a hang into a failure; a correct start-up ends by the exit event.
  const hang = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])))
  clearTimeout(hang)
  return { code, signal, stderr, ms: Date.now() - started }
}

t.test('a bad setting stops start-up with a message naming it, not a stack trace', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /PORT must be a whole number from 0 to 65535 \(got "abc"\)/],
    [{ AUTH_TOKENS_FILE: '/nonexistent/tokens' }, /AUTH_TOKENS_FILE "\/nonexistent\/tokens" cannot be read: ENOENT/]
  ]
  // The cases start side by side (each is a whole server start-up); their results are checked in order.
  const results = await Promise.all(cases.map(([env]) => refusedStartUp(env)))
  for (const [i, [, message]] of cases.entries()) {
    const { code, stderr } = results[i]
    t.equal(code, 1)
    t.match(stderr, message)
    t.notMatch(stderr, /\n\s+at /, 'no stack trace')
  }
})

t.test('an unusable DATABASE_PATH ends start-up with a message naming it, never a hang', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'plain-file')
  writeFileSync(file, 'not a directory')
  const paths = [
    '/proc/no-such-dir/db.sqlite', // Node's recursive mkdir loops forever on this one
    '/proc/no/deeper/db.sqlite',
    join(file, 'db.sqlite'), // a parent that is a file
    '/dev/null/x/db.sqlite',
    dir // a directory, not a database file
  ]
  // Side by side, as above; each path's result is checked in order.
  const results = await Promise.all(paths.map((path) => refusedStartUp({ DATABASE_PATH: path, BOLT_PATH: STAND_IN, BOLT_PROJECT: dir })))
  for (const [i, path] of paths.entries()) {
    const { code, signal, stderr, ms } = results[i]
    t.equal(signal, null, `${path}: exited by itself (after ${ms} ms)`)
    t.equal(code, 1, `${path}: exit code 1`)
    t.match(stderr, `DATABASE_PATH ${JSON.stringify(path)} cannot be used`, `${path}: the message names it`)
    t.notMatch(stderr, /\n\s+at /, 'no stack trace')
  }
})

t.test('SIGTERM: ready fails at once, reads go on, runs finish or are cancelled, no Bolt survives', async (t) => {
  const dir = tempDir(t)
  const spawnLog = join(dir, 'spawns.jsonl')
  writeFileSync(spawnLog, '')
  const server = await startServer({
    BOLT_PATH: STAND_IN,
    BOLT_PROJECT: dir,
    DATABASE_PATH: join(dir, 'bolt-stream.db'),
    SHUTDOWN_GRACE_MS: '2000',
    BOLT_KILL_GRACE_MS: '500',
    BOLT_ENV_PASSTHROUGH: 'STANDIN_LOG,STANDIN_IGNORE_SIGTERM',
    STANDIN_LOG: spawnLog,
    // Bolt and its children ignore SIGTERM: only the SIGKILL escalation ends them.
    STANDIN_IGNORE_SIGTERM: '1'
  })
  t.teardown(() => { server.child.kill('SIGKILL') })
  await until(async () => (await getJson(`${server.url}/health/ready`)).status === 200, 10_000, 'readiness')

  const short = (await postJson(`${server.url}/api/commands`, { targets: ['a'], command: 'sleep 0.8; echo finished', expertMode: true })).json.executionId
  const long = (await postJson(`${server.url}/api/commands`, { targets: ['a', 'b'], command: 'echo started; sleep 60', expertMode: true })).json.executionId
  const shortStream = await openStream(`${server.url}/api/executions/${short}/stream`)
  const longStream = await openStream(`${server.url}/api/executions/${long}/stream`)
  await longStream.waitFor((e) => e.event === 'stdout')

  const signalledAt = Date.now()
  server.child.kill('SIGTERM')
  // The signal is handled on the server's next loop turn; a loaded machine may take a moment.
  await until(async () => (await getJson(`${server.url}/health/ready`)).status === 503, 1000, 'readiness fails')
  t.ok(Date.now() - signalledAt < 1000, `readiness fails at once (${Date.now() - signalledAt} ms)`)
  t.equal((await getJson(`${server.url}/health/live`)).status, 200, 'liveness still answers')
  const refused = await postJson(`${server.url}/api/commands`, { targets: ['a'], command: 'true' })
  t.equal(refused.status, 503)
  t.equal(refused.json.error.code, 'BOLT_STREAM_SHUTTING_DOWN')
  const record = await getJson(`${server.url}/api/executions/${long}`)
  t.equal(record.status, 200, 'GETs are still served')
  t.equal(record.json.status, 'running')
  const lateStream = await openStream(`${server.url}/api/executions/${long}/stream`)
  t.equal(lateStream.status, 200, 'new streams are still served')

  await shortStream.ended
  const shortEnd = shortStream.events.filter((e) => e.event === 'complete' || e.event === 'error')
  t.equal(shortEnd.length, 1)
  t.equal(shortEnd[0].event, 'complete', 'a run that ends within the grace period completes')
  t.equal(shortEnd[0].payload.data.status, 'success')

  for (const stream of [longStream, lateStream]) {
    await stream.ended
    const end = stream.events.filter((e) => e.event === 'complete' || e.event === 'error')
    t.equal(end.length, 1, 'exactly one terminal event')
    t.equal(end[0].event, 'error')
    t.equal(end[0].payload.data.status, 'cancelled')
    t.match((end[0].payload.data.error as { message: string }).message, /shutting down/)
  }

  const code = await server.exited
  const took = Date.now() - signalledAt
  t.equal(code, 0, 'the process exits cleanly')
  t.ok(took >= 2000 && took < 10_000, `exited ${took} ms after SIGTERM (grace 2000 + kill 500)`)
  const spawns = readFileSync(spawnLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { argv: string[], pgid: number })
    .filter((s) => !s.argv.includes('--version'))
  t.equal(spawns.length, 2)
  for (const s of spawns) t.notOk(await groupHasLiveProcess(s.pgid), `Bolt process group ${s.pgid} is gone`)
})
