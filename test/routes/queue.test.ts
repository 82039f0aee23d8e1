import t from 'tap'
import { build, getRecord, openStream, postJson, startExecution, until, waitFinished } from '../helper.js'

t.test('beyond MAX_CONCURRENT_EXECUTIONS executions wait in order; beyond the queue, 429', async (t) => {
  const { app, spawns } = await build(t, { env: { MAX_CONCURRENT_EXECUTIONS: '1', MAX_QUEUED_EXECUTIONS: '2' } })
  const first = await startExecution(app, '/api/commands', { targets: ['a'], command: 'sleep 0.6; echo first' })
  const second = await app.inject({ method: 'POST', url: '/api/commands', payload: { targets: ['a'], command: 'echo second' } })
  t.equal(second.statusCode, 202)
  t.equal(second.json().status, 'queued')
  const third = await startExecution(app, '/api/commands', { targets: ['a'], command: 'echo third' })
  t.equal((await getRecord(app, third)).status, 'queued')

  const refused = await app.inject({ method: 'POST', url: '/api/commands', payload: { targets: ['a'], command: 'echo fourth' } })
  t.equal(refused.statusCode, 429)
  t.equal(refused.headers['retry-after'], '5')
  t.equal(refused.json().error.code, 'BOLT_STREAM_QUEUE_FULL')
  t.same((await app.inject('/api/streaming/stats')).json().queuedExecutions, 2)

  for (const id of [first, second.json().executionId, third]) t.equal((await waitFinished(app, id, 15_000)).status, 'success')
  // First come, first served: the spawn order is the request order.
  t.same(spawns().map((s) => s.argv[s.argv.length - 1]), ['sleep 0.6; echo first', 'echo second', 'echo third'])
  t.same((await app.inject('/api/streaming/stats')).json().queuedExecutions, 0)
})

t.test('a queued execution streams its transitions; cancelling one that waits spawns nothing', async (t) => {
  const ctx = await build(t, { listen: true, env: { MAX_CONCURRENT_EXECUTIONS: '1' } })
  const blocker = (await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: 'sleep 0.8', expertMode: true })).json.executionId
  const waiting = (await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: 'echo later', expertMode: true })).json
  t.equal(waiting.status, 'queued')
  const stream = await openStream(`${ctx.url}/api/executions/${waiting.executionId}/stream`)
  t.equal((await stream.waitFor((e) => e.event === 'start')).payload.data.status, 'queued')
  await stream.ended
  t.same(stream.events.filter((e) => e.event === 'status').map((e) => e.payload.data.status), ['queued', 'running', 'success'])

  const blocker2 = (await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: 'sleep 1.5' })).json.executionId
  await until(async () => (await getRecord(ctx.app, blocker2)).status === 'running', 5000, 'the second blocker to run')
  const doomed = (await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: 'echo never', expertMode: true })).json.executionId
  t.equal((await getRecord(ctx.app, doomed)).status, 'queued')
  const cancel = await ctx.app.inject({ method: 'POST', url: `/api/executions/${doomed}/cancel` })
  t.equal(cancel.statusCode, 202)
  t.equal(cancel.json().status, 'cancelled', 'the answer gives its final status: it has already ended')
  const record = await waitFinished(ctx.app, doomed, 2000)
  t.equal(record.status, 'cancelled', 'ends at once, while the blocker still runs')
  t.equal(record.error.kind, 'bolt-stream/cancelled')
  t.equal((await getRecord(ctx.app, blocker2)).status, 'running')
  await waitFinished(ctx.app, blocker)
  await waitFinished(ctx.app, blocker2)
  t.notOk(ctx.spawns().some((s) => s.argv.includes('echo never')), 'the cancelled one was never spawned')
})

t.test('a shutdown cancels waiting executions without starting them', async (t) => {
  const { app, spawns } = await build(t, { env: { MAX_CONCURRENT_EXECUTIONS: '1' } })
  const running = await startExecution(app, '/api/commands', { targets: ['a'], command: 'sleep 30' })
  const waiting = await startExecution(app, '/api/commands', { targets: ['a'], command: 'echo never' })
  await until(() => spawns().length === 1, 5000, 'the first to spawn')
  await app.executions.drain(0)
  const record = await getRecord(app, waiting)
  t.equal(record.status, 'cancelled')
  t.match(record.error.message, /shutting down/)
  t.equal((await getRecord(app, running)).status, 'cancelled')
  t.equal(spawns().length, 1, 'the waiting one never ran')
})
