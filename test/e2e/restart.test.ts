import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { groupHasLiveProcess } from '../../services/bolt/process-group.js'
import { STAND_IN, getJson, openStream, postJson, startServer, tempDir, until, type SseEvent } from '../helper.js'

const logged = (events: SseEvent[]) => events.filter((e) => e.id !== undefined)
const isTerminal = (e: SseEvent) => e.event === 'complete' || e.event === 'error'

function serverEnv (dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    BOLT_PATH: STAND_IN,
    BOLT_PROJECT: dir,
    DATABASE_PATH: join(dir, 'history', 'bolt-stream.db'),
    BOLT_KILL_GRACE_MS: '500',
    SHUTDOWN_GRACE_MS: '0',
    ...extra
  }
}

t.test('after a restart: the record, the output and a resumed stream are all there', async (t) => {
  const dir = tempDir(t)
  const first = await startServer(serverEnv(dir))
  t.teardown(() => { first.child.kill('SIGKILL') })
  const id = (await postJson(`${first.url}/api/commands`, {
    targets: ['a', 'b'], command: 'for i in 1 2 3 4 5; do echo "line $i é"; sleep 0.12; done; echo warn >&2', expertMode: true
  })).json.executionId as string
  const live = await openStream(`${first.url}/api/executions/${id}/stream`)
  await live.ended
  const before = logged(live.events)
  t.ok(before.length >= 8, `${before.length} events logged`)
  t.equal(before[before.length - 1].event, 'complete')
  const recordBefore = (await getJson(`${first.url}/api/executions/${id}`)).json
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0)

  const second = await startServer(serverEnv(dir))
  t.teardown(() => { second.child.kill('SIGKILL') })
  const record = await getJson(`${second.url}/api/executions/${id}`)
  t.equal(record.status, 200)
  t.same(record.json, recordBefore, 'the record is unchanged')
  t.equal(record.json.status, 'success')
  const output = await fetch(`${second.url}/api/executions/${id}/output?target=a`)
  t.equal(await output.text(), 'line 1 é\nline 2 é\nline 3 é\nline 4 é\nline 5 é\nwarn\n')
  const list = await getJson(`${second.url}/api/executions?limit=5`)
  t.same(list.json.executions.map((e: { id: string }) => e.id), [id])

  // A client that had seen the first three events resumes across the restart.
  const resumed = await openStream(`${second.url}/api/executions/${id}/stream`, { 'last-event-id': '3' })
  await resumed.ended
  t.same(logged(resumed.events).map((e) => JSON.stringify(e.payload)), before.slice(3).map((e) => JSON.stringify(e.payload)),
    'exactly the remaining events, unchanged')
  const done = await openStream(`${second.url}/api/executions/${id}/stream`, { 'last-event-id': String(before.length) })
  t.equal(done.status, 204)
  second.child.kill('SIGTERM')
  t.equal(await second.exited, 0)
})

t.test('after kill -9: the execution is interrupted, nothing a client saw is lost, its Bolt group is gone', async (t) => {
  const dir = tempDir(t)
  const spawnLog = join(dir, 'spawns.jsonl')
  writeFileSync(spawnLog, '')
  const env = serverEnv(dir, { BOLT_ENV_PASSTHROUGH: 'STANDIN_LOG', STANDIN_LOG: spawnLog })
  const first = await startServer(env)
  t.teardown(() => { first.child.kill('SIGKILL') })
  await until(async () => (await getJson(`${first.url}/health/ready`)).status === 200, 10_000, 'readiness')
  const id = (await postJson(`${first.url}/api/commands`, {
    // Silent after its output: a Bolt still printing would die of EPIPE on its next line once
    // the service is gone, and the point here is one that outlives the crash.
    targets: ['a'], command: 'for i in $(seq 1 12); do echo "tick $i"; sleep 0.05; done; sleep 600', expertMode: true
  })).json.executionId as string
  const live = await openStream(`${first.url}/api/executions/${id}/stream`)
  await live.waitFor((e) => e.event === 'stdout' && String(e.payload.data.output).includes('tick 12'))

  const { pgid } = JSON.parse(readFileSync(spawnLog, 'utf8').trim().split('\n').filter((l) => !l.includes('--version'))[0]) as { pgid: number }
  first.child.kill('SIGKILL')
  await first.exited
  await live.ended
  const seen = logged(live.events)
  t.ok(seen.length >= 3, `the client had ${seen.length} events`)
  t.ok(await groupHasLiveProcess(pgid), 'Bolt outlived the crash (it runs in its own group)')

  const second = await startServer(env)
  t.teardown(() => { second.child.kill('SIGKILL') })
  t.notOk(await groupHasLiveProcess(pgid), 'start-up ended the group the crash left behind')
  const record = (await getJson(`${second.url}/api/executions/${id}`)).json
  t.equal(record.status, 'interrupted')
  t.equal(record.error.kind, 'bolt-stream/interrupted')
  t.type(record.completedAt, 'string')

  const stored = (await getJson(`${second.url}/api/executions/${id}/events?limit=1000`)).json.events as Array<{ seq: number, type: string }>
  const byId = new Map(stored.map((e) => [e.seq, JSON.stringify(e)]))
  for (const e of seen) t.equal(byId.get(Number(e.id)), JSON.stringify(e.payload), `event ${e.id} was persisted before it was sent`)
  t.same(stored.slice(-2).map((e) => e.type), ['status', 'error'])

  const resumed = await openStream(`${second.url}/api/executions/${id}/stream`, { 'last-event-id': seen[seen.length - 1].id! })
  await resumed.ended
  const rest = logged(resumed.events)
  t.equal(Number(rest[0].id), Number(seen[seen.length - 1].id) + 1)
  t.ok(isTerminal(rest[rest.length - 1]))
  t.equal(rest[rest.length - 1].payload.data.status, 'interrupted')
})

t.test('an unusable database path stops start-up with a clear message', async (t) => {
  const dir = tempDir(t)
  const notADatabase = join(dir, 'garbage.db')
  writeFileSync(notADatabase, 'this is not an SQLite database, just text that is long enough to be read as a header')
  for (const path of [notADatabase, join(notADatabase, 'below-a-file.db')]) {
    const server = startServer(serverEnv(dir, { DATABASE_PATH: path }))
    const err = await server.then(() => null, (e: Error) => e)
    t.ok(err !== null, 'the server did not start')
    t.match(err?.message, /exited with 1/)
    t.match(err?.message, new RegExp(`DATABASE_PATH "${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}" cannot be used`))
    t.notMatch(err?.message, /\n\s+at /, 'no stack trace')
  }
})
