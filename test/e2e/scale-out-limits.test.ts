import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, getJson, makeRecord, makeTokens, openStream, postJson, tempDir, until, type SseEvent } from '../helper.js'
import { redisMissing, startRedis } from '../redis-server.js'
import { startReplica } from './replicas.js'

// What the replicas of STORE=redis share besides executions: stream tickets and the POST rate
// limit; and how they ride out Redis going away.

const logged = (events: SseEvent[]): SseEvent[] => events.filter((e) => e.id !== undefined)

t.test('a ticket issued on one replica opens a stream on another, once; the rate limit counts every replica', { skip: redisMissing }, async (t) => {
  const redis = await startRedis(t)
  const dir = tempDir(t)
  const tokens = makeTokens({ ops: ['read', 'execute'] })
  const env = { AUTH_TOKENS: tokens.env, RATE_LIMIT_MAX: '4' }
  const [a, b] = await Promise.all([startReplica(t, redis, dir, env), startReplica(t, redis, dir, env)])
  const auth = tokens.auth('ops')

  const started = await postJson(`${a.url}/api/commands`, { targets: ['web1'], command: 'echo hi' }, auth)
  t.equal(started.status, 202, 'POST 1 (on A)')
  const id = started.json.executionId as string
  const ticket = await postJson(`${b.url}/api/executions/${id}/stream-ticket`, {}, auth)
  t.equal(ticket.status, 201, 'POST 2: a ticket from B')
  const stream = await openStream(`${a.url}${ticket.json.streamUrl as string}`)
  t.equal(stream.status, 200, 'B\'s ticket opens the stream on A')
  await stream.ended
  t.equal(logged(stream.events).at(-1)?.event, 'complete')
  const again = await openStream(`${b.url}${ticket.json.streamUrl as string}`)
  t.equal(again.status, 401, 'used once: refused on B too')
  t.match(again.body, /BOLT_STREAM_INVALID_TICKET/)

  t.equal((await postJson(`${b.url}/api/commands`, { targets: ['web1'], command: 'echo 3' }, auth)).status, 202, 'POST 3 (on B)')
  t.equal((await postJson(`${a.url}/api/executions/${id}/stream-ticket`, {}, auth)).status, 201, 'POST 4 (on A)')
  const limited = await postJson(`${b.url}/api/commands`, { targets: ['web1'], command: 'echo 5' }, auth)
  t.equal(limited.status, 429, 'POST 5 is beyond RATE_LIMIT_MAX=4 of the two replicas together')
  t.equal(limited.json.error.code, 'BOLT_STREAM_RATE_LIMITED')
})

t.test('Redis away mid-stream: readiness 503, POST 503, no crash; the stream goes on without a gap or a duplicate', { skip: redisMissing }, async (t) => {
  const redis = await startRedis(t)
  const dir = tempDir(t)
  const [a, b] = await Promise.all([startReplica(t, redis, dir), startReplica(t, redis, dir)])
  await until(async () => (await getJson(`${a.url}/health/ready`)).status === 200, 10_000, 'readiness on A')
  const release = join(dir, 'release')
  const started = await postJson(`${a.url}/api/commands`, {
    targets: ['web1'],
    command: `echo before; while [ ! -f ${release} ]; do sleep 0.05; done; for i in 1 2 3 4 5; do echo "during $i"; done`,
    expertMode: true
  })
  const id = started.json.executionId as string
  const onB = await openStream(`${b.url}/api/executions/${id}/stream`)
  await onB.waitFor((e) => e.event === 'stdout' && String(e.payload.data.output).includes('before'))

  await redis.saveAndStop()
  for (const replica of [a, b]) {
    await until(async () => (await getJson(`${replica.url}/health/ready`)).status === 503, 10_000, 'readiness 503')
  }
  t.pass('readiness answers 503 on both replicas')
  const refused = await postJson(`${b.url}/api/commands`, { targets: ['web1'], command: 'echo lost' })
  t.equal(refused.status, 503, 'a POST while Redis is away: 503, not 202')
  t.equal(refused.json.error.code, 'BOLT_STREAM_STORE_UNAVAILABLE')
  // Output made while Redis is away waits for it: nothing is sent before it is stored.
  writeFileSync(release, '')
  await redis.start()

  await onB.ended
  const events = logged(onB.events)
  t.equal(events.at(-1)?.event, 'complete', 'the stream on B ends with the terminal event')
  t.same(events.map((e) => Number(e.id)), events.map((_, i) => i + 1), 'ids 1, 2, 3 … : no gap, no duplicate')
  const stdout = events.filter((e) => e.event === 'stdout').map((e) => e.payload.data.output).join('')
  t.equal(stdout, 'before\nduring 1\nduring 2\nduring 3\nduring 4\nduring 5\n', 'every line, once')
  const stored = (await getJson(`${a.url}/api/executions/${id}/events?limit=1000`)).json.events.map((e: unknown) => JSON.stringify(e))
  t.same(events.map((e) => JSON.stringify(e.payload)), stored, 'what B sent is what was stored')
  for (const replica of [a, b]) {
    t.equal(replica.child.exitCode, null, 'the replica is still running')
    await until(async () => (await getJson(`${replica.url}/health/ready`)).status === 200, 10_000, 'readiness back')
  }
  t.equal((await postJson(`${b.url}/api/commands`, { targets: ['web1'], command: 'echo after' })).status, 202, 'POSTs are accepted again')
})

t.test('MAX_STREAMS_PER_CLIENT counts the client\'s streams on every replica', { skip: redisMissing }, async (t) => {
  const redis = await startRedis(t)
  const dir = tempDir(t)
  const env = { MAX_STREAMS_PER_CLIENT: '2' }
  const [a, b] = await Promise.all([startReplica(t, redis, dir, env), startReplica(t, redis, dir, env)])
  const started = await postJson(`${a.url}/api/commands`, { targets: ['web1'], command: `while [ ! -f ${join(dir, 'release')} ]; do sleep 0.05; done` })
  const path = started.json.streamUrl as string
  const first = await openStream(`${a.url}${path}`)
  const second = await openStream(`${b.url}${path}`)
  t.same([first.status, second.status], [200, 200], 'one on A, one on B')
  const third = await openStream(`${b.url}${path}`)
  t.equal(third.status, 429, 'a third, on B, is beyond the limit of both together')
  t.match(third.body, /BOLT_STREAM_TOO_MANY_STREAMS/)
  t.ok(third.headers['retry-after'] !== undefined, 'with Retry-After')
  first.close()
  // Its slot is given back once A sees the connection close.
  let fourth: Awaited<ReturnType<typeof openStream>> | undefined
  await until(async () => {
    fourth = await openStream(`${b.url}${path}`)
    return fourth.status === 200
  }, 10_000, 'a slot after closing the stream on A')
  t.equal(fourth?.status, 200, 'closing the stream on A frees a slot for B')
  writeFileSync(join(dir, 'release'), '')
  await Promise.all([second.ended, fourth!.ended])
})

t.test('a replica replays a log of 10,000 events from Redis in order', { skip: redisMissing }, async (t) => {
  const redis = await startRedis(t)
  const { app, url } = await build(t, { listen: true, env: { STORE: 'redis', REDIS_URL: redis.url } })
  const id = '00000000-0000-4000-8000-00000000a5a5'
  await app.store.create(makeRecord(id, { status: 'success', completedAt: new Date().toISOString(), expertMode: true }))
  const events = Array.from({ length: 10_000 }, (_, i) => ({
    type: (i === 9_999 ? 'complete' : 'stdout') as 'complete' | 'stdout',
    executionId: id,
    timestamp: new Date().toISOString(),
    seq: i + 1,
    data: i === 9_999 ? { status: 'success', results: [], outputTruncated: false } : { target: 'web1', output: `line ${i + 1} ${'x'.repeat(60)}\n` }
  }))
  for (let i = 0; i < events.length; i += 1000) await app.store.appendEvents(id, events.slice(i, i + 1000))
  const startedAt = performance.now()
  const replay = await openStream(`${url}/api/executions/${id}/stream`)
  await replay.ended
  const took = performance.now() - startedAt
  t.comment(`replay of 10,000 events over SSE from STORE=redis: ${Math.round(took)} ms`)
  const got = logged(replay.events)
  t.equal(got.length, 10_000, 'every event')
  t.ok(got.every((e, i) => Number(e.id) === i + 1), 'in order, each once')
  t.equal(got.at(-1)?.event, 'complete')
})
