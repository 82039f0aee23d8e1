import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { getJson, openStream, postJson, tempDir, until, type ServerProcess, type SseEvent } from '../helper.js'
import { redisMissing, startRedis } from '../redis-server.js'
import { startReplica } from './replicas.js'

// Several service processes on one Redis (STORE=redis), as replicas behind one Service: any of
// them serves any execution, whichever runs it.

const logged = (events: SseEvent[]): SseEvent[] => events.filter((e) => e.id !== undefined)
const payloads = (events: SseEvent[]): string[] => logged(events).map((e) => JSON.stringify(e.payload))

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
  await onB.waitFor(sawTwo, 30_000)
  await onC.waitFor(sawTwo, 30_000)
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

/** A command that prints `ready`, waits for `file`, then prints `done`. */
const held = (file: string): string => `echo ready; while [ ! -f ${file} ]; do sleep 0.05; done; echo done`
const isTerminal = (e: SseEvent): boolean => e.event === 'complete' || e.event === 'error'
const ready = (e: SseEvent): boolean => e.event === 'stdout' && String(e.payload.data.output).includes('ready')

t.test('cancel from C reaches the replica running it', { skip: redisMissing }, async (t) => {
  const redis = await startRedis(t)
  const dir = tempDir(t)
  const [a, b, c] = await Promise.all([startReplica(t, redis, dir), startReplica(t, redis, dir), startReplica(t, redis, dir)])
  const started = await postJson(`${a.url}/api/commands`, { targets: ['web1'], command: held(join(dir, 'never')), expertMode: true })
  const id = started.json.executionId as string
  const onB = await openStream(`${b.url}/api/executions/${id}/stream`)
  await onB.waitFor(ready, 30_000)
  const cancelled = await postJson(`${c.url}/api/executions/${id}/cancel`, {})
  t.equal(cancelled.status, 202)
  t.equal(cancelled.json.status, 'running', 'still running: it turns cancelled once Bolt has exited on A')
  await onB.ended
  const last = logged(onB.events).at(-1)
  t.equal(last?.event, 'error')
  t.equal(last?.payload.data.status, 'cancelled', 'B\'s subscriber gets the cancellation')
  t.equal((await getJson(`${c.url}/api/executions/${id}`)).json.status, 'cancelled')
  t.equal((await postJson(`${b.url}/api/executions/${id}/cancel`, {})).status, 409, 'cancelling it again from B: 409')
})

t.test('kill -9 of the running replica: subscribers elsewhere get `interrupted` within the lease; queued work is taken by another', { skip: redisMissing }, async (t) => {
  const redis = await startRedis(t)
  const dir = tempDir(t)
  const leaseTtlMs = 3000
  const env = { LEASE_TTL_MS: String(leaseTtlMs), MAX_CONCURRENT_EXECUTIONS: '1', MAX_QUEUED_EXECUTIONS: '2' }
  const [a, b, c] = await Promise.all([startReplica(t, redis, dir, env), startReplica(t, redis, dir, env), startReplica(t, redis, dir, env)])
  const start = async (on: ServerProcess, command: string): Promise<{ status: number, id: string, state: string }> => {
    const res = await postJson(`${on.url}/api/commands`, { targets: ['web1'], command, expertMode: true })
    return { status: res.status, id: res.json.executionId ?? res.json.error?.code, state: res.json.status }
  }
  // One slot per replica, all taken.
  const onA = await start(a, held(join(dir, 'never')))
  const onB = await start(b, held(join(dir, 'release-b')))
  const onC = await start(c, held(join(dir, 'never')))
  t.same([onA.state, onB.state, onC.state], ['running', 'running', 'running'])
  // Beyond every free slot: the cluster's queue, two places.
  const queued = await start(a, 'echo "taken elsewhere"')
  t.same([queued.status, queued.state], [202, 'queued'], 'A accepts it onto the shared queue')
  const other = await start(c, 'echo other')
  t.same([other.status, other.state], [202, 'queued'])
  const refused = await postJson(`${b.url}/api/commands`, { targets: ['web1'], command: 'echo no' })
  t.equal(refused.status, 429, 'MAX_QUEUED_EXECUTIONS holds for the cluster')
  t.equal(refused.json.error.code, 'BOLT_STREAM_QUEUE_FULL')
  const stats = await Promise.all([a, b, c].map(async (r) => (await getJson(`${r.url}/api/streaming/stats`)).json))
  t.same(stats.map((s) => [s.activeExecutions, s.queuedExecutions]), [[1, 2], [1, 2], [1, 2]],
    'every replica counts its own running execution and the cluster\'s queue')
  const cancelled = await postJson(`${b.url}/api/executions/${other.id}/cancel`, {})
  t.same([cancelled.status, cancelled.json.status], [202, 'cancelled'], 'a queued execution cancelled from another replica ends at once')

  const followB = await openStream(`${b.url}/api/executions/${onA.id}/stream`)
  const followC = await openStream(`${c.url}/api/executions/${onA.id}/stream`)
  await followB.waitFor(ready, 30_000)
  await followC.waitFor(ready, 30_000)
  const queuedOnC = await openStream(`${c.url}/api/executions/${queued.id}/stream`)

  const killedAt = performance.now()
  a.child.kill('SIGKILL')
  await a.exited
  const [endB, endC] = await Promise.all([followB.waitFor(isTerminal, 20_000), followC.waitFor(isTerminal, 20_000)])
  const took = Math.max(endB.receivedAt, endC.receivedAt) - killedAt
  t.comment(`interrupted seen on B and C ${Math.round(took)} ms after the kill (LEASE_TTL_MS ${leaseTtlMs})`)
  t.ok(took <= leaseTtlMs, `within the lease (${Math.round(took)} ms)`)
  for (const end of [endB, endC]) {
    t.equal(end.event, 'error')
    t.equal(end.payload.data.status, 'interrupted')
  }
  t.same(payloads(followB.events), payloads(followC.events), 'B and C saw the same events')
  const record = (await getJson(`${b.url}/api/executions/${onA.id}`)).json
  t.equal(record.status, 'interrupted')
  t.equal(record.error.kind, 'bolt-stream/interrupted')

  // The queued execution A accepted outlives A: B takes it once its slot frees.
  t.equal((await getJson(`${c.url}/api/executions/${queued.id}`)).json.status, 'queued', 'still queued after A died')
  writeFileSync(join(dir, 'release-b'), '')
  await queuedOnC.ended
  const events = logged(queuedOnC.events)
  t.same(events.filter((e) => e.event === 'status').map((e) => e.payload.data.status), ['queued', 'running', 'success'])
  t.ok(events.some((e) => e.event === 'stdout' && e.payload.data.output === 'taken elsewhere\n'), 'it ran')
  t.equal(events.at(-1)?.event, 'complete')
  t.equal((await getJson(`${b.url}/api/executions/${onB.id}`)).json.status, 'success', 'B\'s own execution finished first')
})
