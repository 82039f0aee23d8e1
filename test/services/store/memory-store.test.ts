import t from 'tap'
import { makeRecord as record } from '../../helper.js'
import { MemoryStore } from '../../../services/store/memory-store.js'
import type { ExecutionStore } from '../../../services/store/execution-store.js'
import type { ExecutionEvent, ExecutionRecord, ExecutionStatus, ExecutionType } from '../../../schemas/index.js'

function event (executionId: string, seq: number, output = `line ${seq}\n`): ExecutionEvent {
  return { type: 'stdout', executionId, timestamp: '2024-01-01T00:00:01.000Z', seq, data: { target: 'web1', output } }
}

const big = { maxExecutions: 1_000_000, maxBytes: 2 ** 40 }

async function rejectsWith (t: Pick<typeof import('tap').t, 'ok' | 'equal'>, p: Promise<unknown>, code: string | null, what: string): Promise<unknown> {
  let caught: unknown
  try {
    await p
  } catch (err) {
    caught = err
  }
  t.ok(caught instanceof Error, `${what}: rejects`)
  if (code !== null) t.equal((caught as { code?: unknown } | undefined)?.code, code, `${what}: code ${code}`)
  return caught
}

t.test('implements ExecutionStore', async (t) => {
  const store: ExecutionStore = new MemoryStore(big)
  t.type(store.create, 'function')
  t.equal(await store.get('nope'), undefined, 'unknown id → undefined')
})

t.test('create/get return copies', async (t) => {
  const store = new MemoryStore(big)
  const input = record('e1', { targets: ['a', 'b'], results: [{ target: 'a', status: 'success', stdout: 'x' }] })
  await store.create(input)
  input.targets.push('mutated-input')
  input.status = 'failed'
  const got = await store.get('e1')
  t.strictSame(got, record('e1', { targets: ['a', 'b'], results: [{ target: 'a', status: 'success', stdout: 'x' }] }),
    'mutating the input after create does not change the store')
  if (got === undefined) return
  got.status = 'cancelled'
  got.targets.push('mutated-output')
  got.results[0].stdout = 'changed'
  const again = await store.get('e1')
  t.equal(again?.status, 'running')
  t.strictSame(again?.targets, ['a', 'b'])
  t.equal(again?.results[0].stdout, 'x')
  t.not(again, got, 'a fresh object each time')

  const page = await store.list({ limit: 10 })
  page.executions[0].status = 'failed'
  t.equal((await store.get('e1'))?.status, 'running', 'list returns copies too')
})

t.test('update', async (t) => {
  const store = new MemoryStore(big)
  await store.create(record('e1'))
  const results = [{ target: 'web1', status: 'success' as const, exitCode: 0, stdout: 'up 3 days\n' }]
  await store.update('e1', { status: 'success', completedAt: '2024-01-01T00:00:05.000Z', results })
  results[0].stdout = 'mutated'
  t.strictSame(await store.get('e1'), record('e1', { status: 'success', completedAt: '2024-01-01T00:00:05.000Z', results: [{ target: 'web1', status: 'success', exitCode: 0, stdout: 'up 3 days\n' }] }))
  await store.update('e1', { outputTruncated: true })
  const got = await store.get('e1')
  t.equal(got?.outputTruncated, true)
  t.equal(got?.status, 'success', 'other fields kept')
  await t.resolves(store.update('missing', { status: 'failed' }), 'updating an unknown id is harmless')
  t.equal(await store.get('missing'), undefined)
})

t.test('list: newest first, paginated, every record exactly once', async (t) => {
  const store = new MemoryStore(big)
  const ids: string[] = []
  for (let i = 0; i < 23; i++) {
    ids.push(`e${i}`)
    await store.create(record(`e${i}`))
  }
  const all = await store.list({ limit: 100 })
  t.strictSame(all.executions.map((e) => e.id), [...ids].reverse(), 'newest first')
  t.equal(all.nextCursor, null, 'one page: no cursor')

  for (const limit of [1, 5, 7, 23, 24]) {
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    for (;;) {
      const page = await store.list({ limit, cursor })
      pages++
      t.ok(page.executions.length <= limit, `limit ${limit}: page size ${page.executions.length}`)
      seen.push(...page.executions.map((e) => e.id))
      if (page.nextCursor === null) break
      t.type(page.nextCursor, 'string')
      cursor = page.nextCursor
      if (pages > 100) break
    }
    t.strictSame(seen, [...ids].reverse(), `limit ${limit}: all records once, newest first`)
    t.equal(pages, Math.max(1, Math.ceil(23 / limit)), `limit ${limit}: ${pages} pages, no empty last page`)
  }

  // Records created after a cursor was issued do not show up on later pages.
  const first = await store.list({ limit: 5 })
  await store.create(record('late'))
  const second = await store.list({ limit: 5, cursor: first.nextCursor ?? undefined })
  t.strictSame(second.executions.map((e) => e.id), ['e17', 'e16', 'e15', 'e14', 'e13'])
  t.equal((await store.list({ limit: 1 })).executions[0].id, 'late')
})

t.test('list filters by status and type', async (t) => {
  const store = new MemoryStore(big)
  const specs: Array<[string, ExecutionStatus, ExecutionType]> = [
    ['a', 'success', 'command'], ['b', 'failed', 'task'], ['c', 'success', 'task'], ['d', 'running', 'puppet'],
    ['e', 'success', 'package'], ['f', 'failed', 'command'], ['g', 'success', 'task'], ['h', 'success', 'command']
  ]
  for (const [id, status, type] of specs) await store.create(record(id, { status, type }))
  const ids = async (q: Parameters<MemoryStore['list']>[0]): Promise<string[]> => (await store.list(q)).executions.map((e) => e.id)
  t.strictSame(await ids({ limit: 50, status: 'success' }), ['h', 'g', 'e', 'c', 'a'])
  t.strictSame(await ids({ limit: 50, type: 'task' }), ['g', 'c', 'b'])
  t.strictSame(await ids({ limit: 50, status: 'success', type: 'command' }), ['h', 'a'])
  t.strictSame(await ids({ limit: 50, status: 'cancelled' }), [])

  // Filtered pagination.
  const p1 = await store.list({ limit: 2, status: 'success' })
  t.strictSame(p1.executions.map((e) => e.id), ['h', 'g'])
  t.not(p1.nextCursor, null)
  const p2 = await store.list({ limit: 2, status: 'success', cursor: p1.nextCursor ?? undefined })
  t.strictSame(p2.executions.map((e) => e.id), ['e', 'c'])
  const p3 = await store.list({ limit: 2, status: 'success', cursor: p2.nextCursor ?? undefined })
  t.strictSame(p3.executions.map((e) => e.id), ['a'])
  t.equal(p3.nextCursor, null)
  const exact = await store.list({ limit: 3, type: 'task' })
  t.equal(exact.nextCursor, null, 'no further matches → no cursor')
})

t.test('invalid cursor', async (t) => {
  const store = new MemoryStore(big)
  await store.create(record('e1'))
  for (const cursor of ['garbage', '', Buffer.from('m:abc').toString('base64url'), Buffer.from('x:5').toString('base64url'), '!!!']) {
    const err = await rejectsWith(t, store.list({ limit: 10, cursor }), 'BOLT_STREAM_INVALID_INPUT', `cursor ${JSON.stringify(cursor)}`)
    t.equal((err as { statusCode?: unknown } | undefined)?.statusCode, 400)
  }
})

t.test('events: append, read, lastSeq', async (t) => {
  const store = new MemoryStore(big)
  await store.create(record('e1'))
  await store.create(record('e2'))
  t.equal(await store.lastSeq('e1'), 0, 'no events yet')
  t.strictSame(await store.readEvents('e1', 0, 10), [])

  await store.appendEvents('e1', [event('e1', 1), event('e1', 2)])
  await store.appendEvents('e1', [event('e1', 3)])
  await store.appendEvents('e1', [])
  for (let s = 4; s <= 10; s++) await store.appendEvents('e1', [event('e1', s)])
  await store.appendEvents('e2', [event('e2', 1)])
  t.equal(await store.lastSeq('e1'), 10)
  t.equal(await store.lastSeq('e2'), 1, 'logs are per execution')
  t.equal(await store.lastSeq('unknown'), 0)

  const seqs = async (after: number, limit: number): Promise<number[]> => (await store.readEvents('e1', after, limit)).map((e) => e.seq)
  t.strictSame(await seqs(0, 100), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  t.strictSame(await seqs(0, 3), [1, 2, 3])
  t.strictSame(await seqs(3, 2), [4, 5])
  t.strictSame(await seqs(8, 10), [9, 10])
  t.strictSame(await seqs(10, 10), [])
  t.strictSame(await seqs(42, 10), [])
  t.strictSame(await seqs(5, 0), [])
  t.strictSame(await store.readEvents('unknown', 0, 10), [])
  const [e4] = await store.readEvents('e1', 3, 1)
  t.strictSame(e4, event('e1', 4), 'the stored event')
})

t.test('events: gaps in seq are rejected', async (t) => {
  const store = new MemoryStore(big)
  await store.create(record('e1'))
  await rejectsWith(t, store.appendEvents('e1', [event('e1', 2)]), null, 'first event seq 2')
  t.equal(await store.lastSeq('e1'), 0)
  await store.appendEvents('e1', [event('e1', 1), event('e1', 2)])
  await rejectsWith(t, store.appendEvents('e1', [event('e1', 4)]), null, 'seq 4 after 2')
  await rejectsWith(t, store.appendEvents('e1', [event('e1', 2)]), null, 'seq 2 again')
  await rejectsWith(t, store.appendEvents('e1', [event('e1', 0)]), null, 'seq 0')
  t.equal(await store.lastSeq('e1'), 2, 'rejected events are not logged')
  await store.appendEvents('e1', [event('e1', 3)])
  t.equal(await store.lastSeq('e1'), 3, 'the log continues after a rejection')
})

t.test('retention by count drops the oldest finished executions, never running ones', async (t) => {
  const store = new MemoryStore({ maxExecutions: 3, maxBytes: 2 ** 40 })
  await store.create(record('r1')) // running, oldest
  await store.create(record('f1', { status: 'success' }))
  await store.create(record('f2', { status: 'failed' }))
  t.equal(store.usage().executions, 3)
  await store.create(record('f3', { status: 'cancelled' }))
  t.strictSame((await store.list({ limit: 10 })).executions.map((e) => e.id), ['f3', 'f2', 'r1'], 'f1 (oldest finished) dropped, running r1 kept')
  t.equal(await store.get('f1'), undefined)
  await store.create(record('r2'))
  t.strictSame((await store.list({ limit: 10 })).executions.map((e) => e.id), ['r2', 'f3', 'r1'])
  await store.create(record('r3'))
  await store.create(record('r4'))
  t.strictSame((await store.list({ limit: 10 })).executions.map((e) => e.id), ['r4', 'r3', 'r2', 'r1'],
    'only running ones left: over the limit rather than dropping running executions')
  t.equal(store.usage().executions, 4)

  // r1 finishes → now it can go.
  await store.update('r1', { status: 'success' })
  t.strictSame((await store.list({ limit: 10 })).executions.map((e) => e.id), ['r4', 'r3', 'r2'])
  t.equal(await store.lastSeq('r1'), 0, 'its events are gone too')
  t.equal(store.usage().executions, 3)
})

t.test('retention by bytes likewise', async (t) => {
  // Measure the size of one finished record with a 10 kB result.
  const probe = new MemoryStore(big)
  const bigResult = (id: string, status: ExecutionStatus): ExecutionRecord =>
    record(id, { status, results: [{ target: 'web1', status: 'success', stdout: 'x'.repeat(10_000) }] })
  await probe.create(bigResult('p', 'success'))
  const one = probe.usage().bytes
  t.ok(one >= 10_000, `a 10 kB result counts (${one} bytes)`)

  const store = new MemoryStore({ maxExecutions: 1000, maxBytes: one * 3 })
  await store.create(bigResult('r1', 'running'))
  await store.create(bigResult('f1', 'success'))
  await store.create(bigResult('f2', 'failed'))
  t.equal(store.usage().executions, 3)
  t.ok(store.usage().bytes <= one * 3)
  await store.create(bigResult('f3', 'success'))
  t.strictSame((await store.list({ limit: 10 })).executions.map((e) => e.id), ['f3', 'f2', 'r1'], 'oldest finished dropped')
  t.ok(store.usage().bytes <= one * 3, `back under the byte limit (${store.usage().bytes})`)

  // Events count towards the bytes of their execution.
  await store.create(record('small', { status: 'running' }))
  const before = store.usage().bytes
  await store.appendEvents('small', [event('small', 1, 'y'.repeat(5000))])
  t.ok(store.usage().bytes - before >= 5000, 'event output is counted')

  // Running executions are never dropped, whatever their size.
  const tight = new MemoryStore({ maxExecutions: 1000, maxBytes: one })
  await tight.create(bigResult('a', 'running'))
  await tight.create(bigResult('b', 'running'))
  await tight.create(bigResult('c', 'success'))
  t.strictSame((await tight.list({ limit: 10 })).executions.map((e) => e.id), ['b', 'a'], 'only the finished one goes')
  await tight.update('a', { status: 'success' })
  t.strictSame((await tight.list({ limit: 10 })).executions.map((e) => e.id), ['b'])
})

t.test('close empties the store', async (t) => {
  const store = new MemoryStore(big)
  await store.create(record('e1'))
  await store.appendEvents('e1', [event('e1', 1)])
  await store.close()
  t.equal(await store.get('e1'), undefined)
  t.strictSame(store.usage(), { executions: 0, bytes: 0 })
  t.strictSame((await store.list({ limit: 10 })).executions, [])
})
