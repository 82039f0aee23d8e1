import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { STAND_IN, getJson, openStream, postJson, startServer, tempDir, until, type ServerProcess, type SseEvent } from '../helper.js'
import { redisMissing, startRedis, type TestRedis } from '../redis-server.js'

// Several service processes on one Redis (STORE=redis), as replicas behind one Service: any of
// them serves any execution, whichever runs it.

const logged = (events: SseEvent[]): SseEvent[] => events.filter((e) => e.id !== undefined)
const payloads = (events: SseEvent[]): string[] => logged(events).map((e) => JSON.stringify(e.payload))

interface Teardown { teardown: (fn: () => unknown) => void }

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
      server.child.kill('SIGKILL')
      await server.exited
    }
  })
  return server
}

t.test('three replicas: started on A, streamed from B and C alike, resumed on C after B is cut', { skip: redisMissing }, async (t) => {
  const redis = await startRedis(t)
  const dir = tempDir(t)
  const [a, b, c] = await Promise.all([startReplica(t, redis, dir), startReplica(t, redis, dir), startReplica(t, redis, dir)])
  const hold = join(dir, 'release')
  const started = await postJson(`${a.url}/api/commands`, {
    targets: ['web1', 'web2'],
    command: `echo "one é"; echo two; while [ ! -f ${hold} ]; do sleep 0.05; done; for i in 1 2 3; do echo "after $i"; done`,
    expertMode: true
  })
  t.equal(started.status, 202, 'A accepts the execution')
  const id = started.json.executionId as string

  const onB = await openStream(`${b.url}${started.json.streamUrl as string}`)
  const onC = await openStream(`${c.url}${started.json.streamUrl as string}`)
  t.equal(onB.status, 200)
  t.equal(onC.status, 200)
  const sawTwo = (e: SseEvent): boolean => e.event === 'stdout' && String(e.payload.data.output).includes('two')
  await onB.waitFor(sawTwo)
  await onC.waitFor(sawTwo)
  t.equal((await getJson(`${b.url}/api/executions/${id}`)).json.status, 'running', 'B reads the running record')

  // B's client loses its connection, then resumes on C from the last id it had.
  onB.close()
  await onB.ended
  const seenOnB = logged(onB.events)
  const lastId = seenOnB[seenOnB.length - 1].id!
  writeFileSync(hold, '')
  const resumed = await openStream(`${c.url}/api/executions/${id}/stream`, { 'last-event-id': lastId })
  await Promise.all([resumed.ended, onC.ended])
  t.ok(existsSync(hold))

  const whole = payloads(onC.events)
  const last = logged(onC.events).at(-1)
  t.equal(last?.event, 'complete', 'C\'s stream ends with the terminal event')
  t.equal(last?.payload.data.status, 'success')
  t.same([...payloads(seenOnB), ...payloads(resumed.events)], whole, 'B\'s events then the resumed ones are C\'s events: no gap, no duplicate')
  t.same(logged(onC.events).map((e) => Number(e.id)), whole.map((_, i) => i + 1), 'ids 1, 2, 3 … without a gap')
  t.equal(resumed.events[0].payload.data.resumeAfter, Number(lastId), 'the start frame tells where it resumed')

  // Every replica serves the finished execution the same way.
  const records = await Promise.all([a, b, c].map(async (r) => (await getJson(`${r.url}/api/executions/${id}`)).json))
  t.same(records[1], records[0], 'B\'s record is A\'s')
  t.same(records[2], records[0], 'C\'s record is A\'s')
  const events = await Promise.all([a, b, c].map(async (r) => (await getJson(`${r.url}/api/executions/${id}/events?limit=1000`)).json.events.map((e: unknown) => JSON.stringify(e))))
  t.same(events[1], whole, 'B\'s /events are the streamed events')
  t.same(events[2], whole, 'and C\'s')
  const output = await fetch(`${b.url}/api/executions/${id}/output?target=web1`)
  t.equal(await output.text(), 'one é\ntwo\nafter 1\nafter 2\nafter 3\n', 'B serves the output')
  const listed = await getJson(`${c.url}/api/executions?status=success&target=web2`)
  t.same(listed.json.executions.map((e: { id: string }) => e.id), [id], 'C lists it by status and target')
  const replay = await openStream(`${b.url}/api/executions/${id}/stream`)
  await replay.ended
  t.same(payloads(replay.events), whole, 'a replay on B after the end is the same')
  await until(async () => (await getJson(`${a.url}/health/ready`)).status === 200, 10_000, 'readiness on A')
})
