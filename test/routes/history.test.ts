import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { build, getRecord, startExecution, waitFinished } from '../helper.js'

// The history API: deleting executions, their output as text, their logged events, and the
// list filters, through HTTP (inject) with the Bolt stand-in as Bolt and SQLite as the store.

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000'
const COMMAND = 'echo out-$((1)); echo err-1 >&2'

type Body = Record<string, unknown>
type Assert = Pick<typeof t, 'equal' | 'match' | 'ok'>
interface Res { statusCode: number, headers: Record<string, unknown>, body: string }

const start = (app: FastifyInstance, body: Body, url = '/api/commands'): Promise<string> => startExecution(app, url, body)
const get = getRecord
const finished = waitFinished

async function run (app: FastifyInstance, body: Body): Promise<any> {
  return finished(app, await start(app, body))
}

function expectError (t: Assert, res: Res, status: number, code?: string): void {
  t.equal(res.statusCode, status, `status ${status}`)
  t.match(String(res.headers['content-type']), /^application\/json/, 'JSON error')
  const body = JSON.parse(res.body)
  t.match(body, { error: { code: /^BOLT_STREAM_/, message: String } }, 'an {error: {code, message}} body')
  if (code !== undefined) t.equal(body.error.code, code, `code ${code}`)
}

const lines = (text: string): string[] => text.split('\n').filter((l) => l.length > 0).sort()

t.test('DELETE /api/executions/:id', async (t) => {
  const { app } = await build(t)

  t.test('a finished execution: 204, then it and its events are gone', async (t) => {
    const rec = await run(app, { targets: ['a'], command: COMMAND, expertMode: true })
    t.equal(rec.status, 'success')
    t.ok((await app.store.lastSeq(rec.id)) > 0, 'it has logged events')
    const keep = await run(app, { targets: ['a'], command: 'echo keep', expertMode: true })

    const res = await app.inject({ method: 'DELETE', url: `/api/executions/${rec.id}` })
    t.equal(res.statusCode, 204, '204')
    t.equal(res.body, '', 'no body')
    expectError(t, await app.inject(`/api/executions/${rec.id}`), 404, 'BOLT_STREAM_EXECUTION_NOT_FOUND')
    expectError(t, await app.inject(`/api/executions/${rec.id}/events`), 404, 'BOLT_STREAM_EXECUTION_NOT_FOUND')
    expectError(t, await app.inject(`/api/executions/${rec.id}/output`), 404, 'BOLT_STREAM_EXECUTION_NOT_FOUND')
    t.strictSame(await app.store.readEvents(rec.id, 0, 100), [], 'events gone from the store')
    t.equal(await app.store.lastSeq(rec.id), 0)
    const ids = (await app.inject('/api/executions?limit=100')).json().executions.map((e: any) => e.id)
    t.notOk(ids.includes(rec.id), 'not listed')
    t.ok(ids.includes(keep.id), 'the other one still listed')
    t.equal((await get(app, keep.id)).status, 'success', 'the other one untouched')
    expectError(t, await app.inject({ method: 'DELETE', url: `/api/executions/${rec.id}` }), 404, 'BOLT_STREAM_EXECUTION_NOT_FOUND')
  })

  t.test('a running execution: 409 BOLT_STREAM_EXECUTION_RUNNING', async (t) => {
    const id = await start(app, { targets: ['a'], command: 'sleep 30' })
    t.teardown(async () => {
      await app.inject({ method: 'POST', url: `/api/executions/${id}/cancel`, payload: {} })
    })
    const res = await app.inject({ method: 'DELETE', url: `/api/executions/${id}` })
    expectError(t, res, 409, 'BOLT_STREAM_EXECUTION_RUNNING')
    t.equal((await get(app, id)).status, 'running', 'still there and running')
    const cancel = await app.inject({ method: 'POST', url: `/api/executions/${id}/cancel`, payload: {} })
    t.equal(cancel.statusCode, 202, 'cancelled')
    t.equal((await finished(app, id)).status, 'cancelled')
    t.equal((await app.inject({ method: 'DELETE', url: `/api/executions/${id}` })).statusCode, 204, 'deletable once cancelled')
  })

  t.test('unknown: 404; malformed id: 400', async (t) => {
    expectError(t, await app.inject({ method: 'DELETE', url: `/api/executions/${UNKNOWN_ID}` }), 404, 'BOLT_STREAM_EXECUTION_NOT_FOUND')
    expectError(t, await app.inject({ method: 'DELETE', url: '/api/executions/not-a-uuid' }), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  })
})

t.test('GET /api/executions/:id/output', async (t) => {
  const { app } = await build(t)
  const expert = await run(app, { targets: ['a', 'b'], command: COMMAND, expertMode: true })
  const plain = await run(app, { targets: ['a', 'b'], command: COMMAND, expertMode: false })
  const output = (id: string, query = ''): Promise<Res> => app.inject(`/api/executions/${id}/output${query}`)

  t.test('expert mode: the logged output, every line prefixed with its target', async (t) => {
    t.equal(expert.status, 'success')
    const res = await output(expert.id)
    t.equal(res.statusCode, 200)
    t.match(String(res.headers['content-type']), /^text\/plain/, 'text/plain')
    t.ok(res.body.endsWith('\n'), 'ends with a newline')
    t.strictSame(lines(res.body), ['[a] err-1', '[a] out-1', '[b] err-1', '[b] out-1'], `the lines: ${JSON.stringify(res.body)}`)
  })

  t.test('?target=a: only a, raw, without prefix', async (t) => {
    const res = await output(expert.id, '?target=a')
    t.equal(res.statusCode, 200)
    t.match(String(res.headers['content-type']), /^text\/plain/)
    t.strictSame(lines(res.body), ['err-1', 'out-1'], `the lines: ${JSON.stringify(res.body)}`)
    t.equal(res.body.length, 'err-1\nout-1\n'.length, 'nothing else')
    t.strictSame(lines((await output(expert.id, '?target=zzz')).body), [], 'a target that did not run: empty')
  })

  t.test('?stream=stderr / stdout', async (t) => {
    const err = await output(expert.id, '?stream=stderr')
    t.equal(err.statusCode, 200)
    t.strictSame(lines(err.body), ['[a] err-1', '[b] err-1'], `stderr only: ${JSON.stringify(err.body)}`)
    const out = await output(expert.id, '?stream=stdout')
    t.strictSame(lines(out.body), ['[a] out-1', '[b] out-1'], `stdout only: ${JSON.stringify(out.body)}`)
    t.equal((await output(expert.id, '?stream=stdout&target=b')).body, 'out-1\n', 'stdout of b')
  })

  t.test('expertMode false: the output comes from the results, still prefixed', async (t) => {
    t.equal(plain.status, 'success')
    t.equal(plain.expertMode, false)
    const logged = await app.store.readEvents(plain.id, 0, 1000)
    t.notOk(logged.some((e) => e.type === 'stdout' || e.type === 'stderr'), 'no output events were logged')
    const res = await output(plain.id)
    t.equal(res.statusCode, 200)
    t.match(String(res.headers['content-type']), /^text\/plain/)
    t.strictSame(lines(res.body), ['[a] err-1', '[a] out-1', '[b] err-1', '[b] out-1'], `the lines: ${JSON.stringify(res.body)}`)
    t.strictSame(lines((await output(plain.id, '?target=b')).body), ['err-1', 'out-1'], '?target=b')
    t.strictSame(lines((await output(plain.id, '?stream=stderr')).body), ['[a] err-1', '[b] err-1'], '?stream=stderr')
  })

  t.test('multi-line chunks get a prefix on every line', async (t) => {
    const rec = await run(app, { targets: ['a', 'b'], command: 'printf "one\\ntwo\\n\\nthree\\n"', expertMode: true })
    const body = (await output(rec.id)).body
    for (const target of ['a', 'b']) {
      for (const word of ['one', 'two', 'three']) t.ok(body.split('\n').includes(`[${target}] ${word}`), `[${target}] ${word}`)
    }
    t.notOk(body.split('\n').some((l) => l.length > 0 && !/^\[(?:a|b|bolt)\] /.test(l)), `no line without a prefix: ${JSON.stringify(body)}`)
  })

  t.test('errors', async (t) => {
    expectError(t, await output(UNKNOWN_ID), 404, 'BOLT_STREAM_EXECUTION_NOT_FOUND')
    expectError(t, await output(expert.id, '?stream=bogus'), 400, 'BOLT_STREAM_VALIDATION_FAILED')
    expectError(t, await output(expert.id, '?target=a%20b'), 400, 'BOLT_STREAM_VALIDATION_FAILED')
    expectError(t, await output('not-a-uuid'), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  })
})

t.test('GET /api/executions/:id/events', async (t) => {
  const { app } = await build(t)
  const rec = await run(app, { targets: ['a', 'b'], command: 'for i in 1 2 3 4 5; do echo line-$i; done; echo err >&2', expertMode: true })
  const url = `/api/executions/${rec.id}/events`
  const all = await app.inject(url)
  t.equal(all.statusCode, 200)
  t.match(String(all.headers['content-type']), /^application\/json/)
  const body = all.json()
  t.strictSame(Object.keys(body).sort(), ['events', 'nextAfter'], '{events, nextAfter}')
  const events: any[] = body.events
  const count = events.length
  t.ok(count >= 5, `several events (${count})`)
  t.strictSame(events.map((e) => e.seq), Array.from({ length: count }, (_, i) => i + 1), 'seqs 1..n in order')
  t.equal(body.nextAfter, count, 'nextAfter is the last seq')
  for (const e of events) {
    t.strictSame(Object.keys(e).sort(), ['data', 'executionId', 'seq', 'timestamp', 'type'], `event ${e.seq}: {type, executionId, timestamp, seq, data}`)
    t.equal(e.executionId, rec.id)
    t.ok(!Number.isNaN(Date.parse(e.timestamp)), 'an ISO timestamp')
  }
  t.equal(events[count - 1].type, 'complete', 'the last event is the terminal one')
  t.ok(events.some((e) => e.type === 'stdout' && e.data?.target === 'a'), 'output events of a')
  t.strictSame(events, (await app.store.readEvents(rec.id, 0, 1000)).map((e) => ({ ...e })), 'the logged events')

  for (const limit of [1, 2, 3]) {
    const seen: number[] = []
    let after = 0
    for (let page = 0; page < 1000; page++) {
      const res = await app.inject(`${url}?after=${after}&limit=${limit}`)
      t.equal(res.statusCode, 200)
      const { events: got, nextAfter } = res.json()
      t.ok(got.length <= limit, `limit ${limit}`)
      if (got.length === 0) {
        t.equal(nextAfter, after, 'an empty page keeps the cursor')
        break
      }
      t.equal(nextAfter, got[got.length - 1].seq, 'nextAfter equals the last seq of the page')
      seen.push(...got.map((e: any) => e.seq))
      after = nextAfter
    }
    t.strictSame(seen, Array.from({ length: count }, (_, i) => i + 1), `limit ${limit}: every event once, in order`)
  }

  const atEnd = await app.inject(`${url}?after=${count}`)
  t.equal(atEnd.statusCode, 200, 'after = the last seq is fine')
  t.strictSame(atEnd.json(), { events: [], nextAfter: count })
  t.equal((await app.inject(`${url}?limit=1000`)).statusCode, 200, 'limit 1000 is allowed')

  expectError(t, await app.inject(`${url}?after=${count + 1}`), 400, 'BOLT_STREAM_INVALID_EVENT_ID')
  expectError(t, await app.inject(`${url}?after=1000000`), 400, 'BOLT_STREAM_INVALID_EVENT_ID')
  expectError(t, await app.inject(`${url}?limit=0`), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  expectError(t, await app.inject(`${url}?limit=1001`), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  expectError(t, await app.inject(`${url}?after=-1`), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  expectError(t, await app.inject(`${url}?after=x`), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  expectError(t, await app.inject(`/api/executions/${UNKNOWN_ID}/events`), 404, 'BOLT_STREAM_EXECUTION_NOT_FOUND')
})

t.test('GET /api/executions filters: target, since, until', async (t) => {
  const { app } = await build(t)
  const first = await run(app, { targets: ['a', 'b'], command: 'echo 1' })
  await new Promise((resolve) => setTimeout(resolve, 20))
  const second = await run(app, { targets: ['c'], command: 'echo 2' })
  await new Promise((resolve) => setTimeout(resolve, 20))
  const third = await run(app, { targets: ['b'], command: 'echo 3' })
  t.ok(first.startedAt < second.startedAt && second.startedAt < third.startedAt, 'distinct start times')
  const list = async (query: string): Promise<string[]> => {
    const res = await app.inject(`/api/executions${query}`)
    if (res.statusCode !== 200) throw new Error(`${query}: ${res.statusCode} ${res.body}`)
    return res.json().executions.map((e: any) => e.id)
  }
  const q = encodeURIComponent

  t.strictSame(await list(''), [third.id, second.id, first.id], 'all, newest first')
  t.strictSame(await list('?target=b'), [third.id, first.id], 'target b')
  t.strictSame(await list('?target=c'), [second.id], 'target c')
  t.strictSame(await list('?target=zzz'), [], 'no such target')
  t.strictSame(await list(`?since=${q(second.startedAt)}`), [third.id, second.id], 'since (inclusive)')
  t.strictSame(await list(`?until=${q(second.startedAt)}`), [first.id], 'until (exclusive)')
  t.strictSame(await list(`?since=${q(second.startedAt)}&until=${q(third.startedAt)}`), [second.id], 'since + until')
  t.strictSame(await list(`?target=b&since=${q(second.startedAt)}`), [third.id], 'target + since')
  t.strictSame(await list(`?target=b&until=${q(third.startedAt)}&status=success`), [first.id], 'target + until + status')
  t.strictSame(await list(`?since=${q('2100-01-01T00:00:00Z')}`), [], 'since in the future')
  t.strictSame(await list(`?until=${q('2000-01-01T00:00:00+02:00')}`), [], 'until long ago, with an offset')
  const page = (await app.inject('/api/executions?target=b&limit=1')).json()
  t.strictSame(page.executions.map((e: any) => e.id), [third.id])
  t.strictSame(await list(`?target=b&limit=1&cursor=${q(page.nextCursor)}`), [first.id], 'a filtered second page')

  expectError(t, await app.inject('/api/executions?since=not-a-date'), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  expectError(t, await app.inject('/api/executions?until=2024-13-45T00:00:00Z'), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  expectError(t, await app.inject('/api/executions?since=2024-01-01'), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  expectError(t, await app.inject('/api/executions?target=a%20b'), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  expectError(t, await app.inject('/api/executions?target='), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  expectError(t, await app.inject('/api/executions?cursor=garbage'), 400, 'BOLT_STREAM_INVALID_INPUT')
})

for (const store of ['sqlite', 'memory'] as const) {
  t.test(`GET /api/executions (${store} store): a leap second, which the date-time format accepts, is filtered correctly or refused (never a 500)`, async (t) => {
    const { app } = await build(t, { env: { STORE: store } })
    t.equal(app.store.kind, store)
    const rec = await run(app, { targets: ['a'], command: 'echo 1' })
    // RFC 3339 allows second 60 and ajv-formats accepts it; Date.parse does not.
    for (const [query, expected] of [['since', [rec.id]], ['until', []]] as const) {
      const res = await app.inject(`/api/executions?${query}=${encodeURIComponent('2016-12-31T23:59:60Z')}`)
      t.ok(res.statusCode === 200 || res.statusCode === 400, `${query}: 200 or 400, not ${res.statusCode} (${res.body})`)
      if (res.statusCode === 200) t.strictSame(res.json().executions.map((e: any) => e.id), expected, `${query}: filtered as the last second of 2016`)
      if (res.statusCode === 400) expectError(t, res, 400)
    }
  })
}
