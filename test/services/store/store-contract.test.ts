import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'

const tap = t
import type { ExecutionStore, ListQuery } from '../../../services/store/execution-store.js'
import { MemoryStore } from '../../../services/store/memory-store.js'
import { SqliteStore } from '../../../services/store/sqlite-store.js'
import type { ExecutionEvent, ExecutionRecord } from '../../../schemas/index.js'
import { RedisStore } from '../../../services/store/redis-store.js'
import { connectRedis } from '../../../services/store/redis-connection.js'
import { tempDir, makeRecord as record, held } from '../../helper.js'
import { redisMissing, startRedis, type TestRedis } from '../../redis-server.js'

// One behavioural contract for every ExecutionStore: the memory store and the SQLite store
// must be interchangeable for the routes, the stream manager and the reconciler.

interface Teardown { teardown: (fn: () => unknown) => void }
type Assert = Pick<typeof t, 'ok' | 'equal'>
type Factory = (t: Teardown) => Promise<ExecutionStore>

function event (executionId: string, seq: number, data: unknown = { target: 'web1', output: `line ${seq}\n` }, type: ExecutionEvent['type'] = 'stdout'): ExecutionEvent {
  return { type, executionId, timestamp: `2024-01-01T00:00:${String(seq % 60).padStart(2, '0')}.000Z`, seq, data }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const events = (id: string, from: number, to: number): ExecutionEvent[] => range(from, to).map((s) => event(id, s))

async function rejection (t: Assert, p: Promise<unknown>, what: string): Promise<unknown> {
  let caught: unknown
  try {
    await p
  } catch (err) {
    caught = err
  }
  t.ok(caught instanceof Error, `${what}: rejects with an Error`)
  return caught
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function contract (name: string, factory: Factory, options: { skip?: string | false } = {}): void {
  t.test(`${name}: ExecutionStore contract`, { skip: options.skip ?? false }, async (t) => {
    const ids = async (store: ExecutionStore, q: ListQuery): Promise<string[]> => (await store.list(q)).executions.map((e) => e.id)

    t.test('create/get round-trips a full record; returned records are copies', async (t) => {
      const store = await factory(t)
      const full = record('full', {
        type: 'task',
        targets: ['a', 'b', 'ssh://root@[::1]:22'],
        action: 'package::status',
        status: 'partial',
        startedAt: '2024-02-03T04:05:06.789Z',
        completedAt: '2024-02-03T04:05:10.001Z',
        expertMode: true,
        command: "bolt task run package::status --targets=a,b 'name=ü'",
        request: { task: 'package::status', params: { name: 'ü', nested: [1, { x: null }] }, redacted: false },
        rerunOf: 'e0',
        results: [
          { target: 'a', status: 'success', exitCode: 0, stdout: 'out ✓\r\nnext\n', stderr: '', value: { nested: { list: [1, 'two', null, { deep: true }] }, n: 1.5, s: 'ü 日本' } },
          { target: 'b', status: 'failed', exitCode: 2, stderr: 'boom\n', error: { kind: 'puppetlabs.tasks/task-error', message: 'The task failed with exit code 2', issueCode: 'TASK_ERROR' } },
          { target: 'ssh://root@[::1]:22', status: 'failed', error: { kind: 'bolt/connect-error', message: 'no route' } }
        ],
        error: { kind: 'bolt-stream/partial', message: 'some targets failed', issueCode: 'X' },
        outputTruncated: true
      })
      const plain = record('plain', { command: null, error: null, completedAt: null })
      await store.create(structuredClone(full))
      await store.create(structuredClone(plain))
      t.strictSame(await store.get('full'), full, 'full record (results with stdout/value/error, non-null error, command) round-trips')
      t.strictSame(await store.get('plain'), plain, 'record with command null, error null, completedAt null round-trips')

      const got = await store.get('full')
      if (got === undefined) throw new Error('full record missing')
      got.status = 'cancelled'
      got.targets.push('mutated')
      got.results[0].stdout = 'changed'
      ;(got.results[0].value as { nested: { list: unknown[] } }).nested.list.push('more')
      if (got.error !== null) got.error.message = 'changed'
      t.strictSame(await store.get('full'), full, 'mutating a returned record does not change the store')

      const page = await store.list({ limit: 10 })
      page.executions[0].status = 'failed'
      page.executions[0].targets.length = 0
      t.strictSame(await store.get(page.executions[0].id), page.executions[0].id === 'full' ? full : plain, 'records from list are copies too')

      const input = structuredClone(full)
      input.id = 'input'
      await store.create(input)
      input.targets.push('after-create')
      input.results[1].stderr = 'after-create'
      t.strictSame(await store.get('input'), { ...structuredClone(full), id: 'input' }, 'mutating the input after create does not change the store')
    })

    t.test('update changes only the given fields', async (t) => {
      const store = await factory(t)
      const base = record('e1', { targets: ['a', 'b'], expertMode: true, command: 'bolt command run uptime --targets=a,b' })
      await store.create(structuredClone(base))
      const results = [{ target: 'a', status: 'success' as const, exitCode: 0, stdout: 'up\n' }]
      await store.update('e1', { status: 'success', completedAt: '2024-01-01T00:00:05.000Z', results })
      results[0].stdout = 'mutated after update'
      t.strictSame(await store.get('e1'), {
        ...base, status: 'success', completedAt: '2024-01-01T00:00:05.000Z', results: [{ target: 'a', status: 'success', exitCode: 0, stdout: 'up\n' }]
      }, 'patched fields changed, the others kept')

      await store.update('e1', { error: { kind: 'k', message: 'm' }, outputTruncated: true })
      let got = await store.get('e1')
      t.strictSame(got?.error, { kind: 'k', message: 'm' }, 'error set')
      t.equal(got?.outputTruncated, true)
      t.equal(got?.status, 'success', 'status kept')
      t.equal(got?.command, base.command, 'command kept')

      await store.update('e1', { error: null, command: null, completedAt: null, status: 'running' })
      got = await store.get('e1')
      t.equal(got?.error, null, 'error back to null')
      t.equal(got?.command, null, 'command set to null')
      t.equal(got?.completedAt, null, 'completedAt set to null')
      t.equal(got?.status, 'running')
      t.strictSame(got?.targets, ['a', 'b'], 'targets kept')
      t.equal(got?.outputTruncated, true, 'outputTruncated kept')

      await t.resolves(store.update('missing', { status: 'failed' }), 'updating an unknown id is harmless')
      t.equal(await store.get('missing'), undefined, 'and creates nothing')
    })

    t.test('get of an unknown id is undefined', async (t) => {
      const store = await factory(t)
      t.equal(await store.get('nope'), undefined)
      await store.create(record('e1'))
      t.equal(await store.get('e2'), undefined)
      t.equal(await store.get(''), undefined)
    })

    t.test('list: newest first, filters by status, type, target, since, until, rerunOf', async (t) => {
      const store = await factory(t)
      const specs: ExecutionRecord[] = [
        record('d1', { startedAt: '2024-03-01T10:00:00.000Z', status: 'success', type: 'command', targets: ['a', 'b'] }),
        record('d2', { startedAt: '2024-03-02T10:00:00.000Z', status: 'failed', type: 'task', targets: ['c'] }),
        record('d3', { startedAt: '2024-03-03T00:00:00.000Z', status: 'success', type: 'task', targets: ['b'] }),
        record('d4', { startedAt: '2024-03-04T10:00:00.000Z', status: 'running', type: 'puppet', targets: ['a'] }),
        record('d5', { startedAt: '2024-03-05T10:00:00.000Z', status: 'success', type: 'command', targets: ['web-1.example.com'], rerunOf: 'd1' })
      ]
      for (const r of specs) await store.create(r)
      const q = (extra: Partial<ListQuery>): Promise<string[]> => ids(store, { limit: 50, ...extra })

      const all = await store.list({ limit: 50 })
      t.strictSame(all.executions.map((e) => e.id), ['d5', 'd4', 'd3', 'd2', 'd1'], 'newest first')
      t.equal(all.nextCursor, null, 'one page: no cursor')
      t.strictSame(await q({ status: 'success' }), ['d5', 'd3', 'd1'], 'status')
      t.strictSame(await q({ status: 'cancelled' }), [], 'status with no match')
      t.strictSame(await q({ type: 'task' }), ['d3', 'd2'], 'type')
      t.strictSame(await q({ target: 'b' }), ['d3', 'd1'], "target b: found in ['a','b']")
      t.strictSame(await q({ target: 'c' }), ['d2'], "target c: not in ['a','b']")
      t.strictSame(await q({ target: 'a' }), ['d4', 'd1'], 'target a')
      t.strictSame(await q({ target: 'web' }), [], 'a target matches whole names only')
      t.strictSame(await q({ target: 'web-1.example.com' }), ['d5'])
      t.strictSame(await q({ target: 'zzz' }), [])
      t.strictSame(await q({ since: '2024-03-03T00:00:00.000Z' }), ['d5', 'd4', 'd3'], 'since is inclusive')
      t.strictSame(await q({ until: '2024-03-03T00:00:00.000Z' }), ['d2', 'd1'], 'until is exclusive')
      t.strictSame(await q({ since: '2024-03-03T02:00:00+02:00' }), ['d5', 'd4', 'd3'], 'since with a UTC offset')
      t.strictSame(await q({ since: '2024-03-02T00:00:00.000Z', until: '2024-03-04T00:00:00.000Z' }), ['d3', 'd2'], 'since and until')
      t.strictSame(await q({ since: '2030-01-01T00:00:00.000Z' }), [], 'since in the future')
      t.strictSame(await q({ status: 'success', since: '2024-03-02T00:00:00.000Z', until: '2024-03-05T00:00:00.000Z' }), ['d3'], 'status + since + until')
      t.strictSame(await q({ type: 'command', target: 'a' }), ['d1'], 'type + target')
      t.strictSame(await q({ status: 'success', type: 'task', target: 'b' }), ['d3'], 'status + type + target')
      t.strictSame(await q({ status: 'failed', target: 'b' }), [], 'status + target with no match')
      t.strictSame(await q({ rerunOf: 'd1' }), ['d5'], 'rerunOf')
      t.strictSame(await q({ rerunOf: 'd5' }), [], 'rerunOf with no re-run')
      t.strictSame(await q({ rerunOf: 'd1', type: 'task' }), [], 'rerunOf + type')
    })

    t.test('list: pagination visits every execution exactly once', async (t) => {
      const store = await factory(t)
      const created: string[] = []
      for (let i = 0; i < 7; i++) {
        const id = `p${i}`
        created.push(id)
        await store.create(record(id, { status: i % 2 === 0 ? 'success' : 'failed', startedAt: `2024-04-0${i + 1}T00:00:00.000Z` }))
      }
      const newestFirst = [...created].reverse()
      const walk = async (limit: number, extra: Partial<ListQuery> = {}): Promise<{ seen: string[], pages: number }> => {
        const seen: string[] = []
        let cursor: string | undefined
        let pages = 0
        for (;;) {
          const page = await store.list({ limit, cursor, ...extra })
          pages++
          t.ok(page.executions.length <= limit, `limit ${limit}: page of ${page.executions.length}`)
          t.ok(page.executions.length > 0, `limit ${limit}: no empty page`)
          seen.push(...page.executions.map((e) => e.id))
          if (page.nextCursor === null) break
          t.type(page.nextCursor, 'string')
          cursor = page.nextCursor
          if (pages > 50) throw new Error('pagination does not end')
        }
        return { seen, pages }
      }
      for (const limit of [1, 2, 3]) {
        const { seen, pages } = await walk(limit)
        t.strictSame(seen, newestFirst, `limit ${limit}: each execution once, newest first`)
        t.equal(pages, Math.ceil(7 / limit), `limit ${limit}: ${pages} pages, nextCursor null on the last`)
        const filtered = await walk(limit, { status: 'success' })
        t.strictSame(filtered.seen, ['p6', 'p4', 'p2', 'p0'], `limit ${limit} with a status filter`)
        t.equal(filtered.pages, Math.ceil(4 / limit))
      }
      const exact = await store.list({ limit: 7 })
      t.equal(exact.executions.length, 7)
      t.equal(exact.nextCursor, null, 'exactly limit executions: no cursor')

      // A cursor is a position: executions created afterwards do not show up on later pages.
      const first = await store.list({ limit: 3 })
      await store.create(record('late'))
      const second = await store.list({ limit: 3, cursor: first.nextCursor ?? undefined })
      t.strictSame(second.executions.map((e) => e.id), ['p3', 'p2', 'p1'])
      t.strictSame(await ids(store, { limit: 1 }), ['late'])
    })

    t.test('list: an invalid cursor throws BOLT_STREAM_INVALID_INPUT', async (t) => {
      const store = await factory(t)
      await store.create(record('e1'))
      for (const cursor of ['garbage', '!!!', Buffer.from('p:abc').toString('base64url'), Buffer.from('x:5').toString('base64url'), Buffer.from('p:-1').toString('base64url')]) {
        const err = await rejection(t, store.list({ limit: 10, cursor }), `cursor ${JSON.stringify(cursor)}`)
        t.equal((err as { code?: unknown } | undefined)?.code, 'BOLT_STREAM_INVALID_INPUT', `cursor ${JSON.stringify(cursor)}: code`)
      }
    })

    t.test('delete removes the execution and its events', async (t) => {
      const store = await factory(t)
      await store.create(record('gone', { status: 'success' }))
      await store.create(record('kept', { status: 'success' }))
      await store.appendEvents('gone', events('gone', 1, 5))
      await store.appendEvents('kept', events('kept', 1, 3))
      t.equal(await store.delete('gone'), true, 'delete → true')
      t.equal(await store.get('gone'), undefined, 'then get → undefined')
      t.strictSame(await store.readEvents('gone', 0, 100), [], 'its events are gone')
      t.equal(await store.lastSeq('gone'), 0, 'lastSeq 0')
      t.strictSame(await ids(store, { limit: 10 }), ['kept'], 'not listed')
      t.equal(await store.delete('gone'), false, 'deleting again → false')
      t.equal(await store.delete('never-existed'), false, 'delete unknown → false')
      t.strictSame(await store.readEvents('kept', 0, 100), events('kept', 1, 3), 'the other log untouched')
      t.ok(await store.get('kept'), 'the other execution untouched')
    })

    t.test('appendEvents: seqs continue the log, all or nothing', async (t) => {
      const store = await factory(t)
      await store.create(record('e1'))
      await rejection(t, store.appendEvents('e1', [event('e1', 2)]), 'first event with seq 2')
      await rejection(t, store.appendEvents('e1', [event('e1', 0)]), 'first event with seq 0')
      t.equal(await store.lastSeq('e1'), 0)
      await store.appendEvents('e1', events('e1', 1, 2))
      await store.appendEvents('e1', [])
      t.equal(await store.lastSeq('e1'), 2)

      await rejection(t, store.appendEvents('e1', [event('e1', 4)]), 'seq 4 after 2')
      await rejection(t, store.appendEvents('e1', [event('e1', 2)]), 'seq 2 again')
      await rejection(t, store.appendEvents('e1', [event('e1', 3), event('e1', 4), event('e1', 6)]), 'gap inside the batch')
      t.equal(await store.lastSeq('e1'), 2, 'nothing of the rejected batches was stored')
      t.strictSame((await store.readEvents('e1', 0, 100)).map((e) => e.seq), [1, 2], 'the log holds only 1, 2')
      await rejection(t, store.appendEvents('e1', [event('e1', 3), event('e1', 3)]), 'duplicate inside the batch')
      t.equal(await store.lastSeq('e1'), 2, 'nothing of that batch either')

      await store.appendEvents('e1', events('e1', 3, 6))
      t.equal(await store.lastSeq('e1'), 6, 'the log continues after rejections')
      t.strictSame(await store.readEvents('e1', 0, 100), events('e1', 1, 6))
    })

    t.test('appendEvents for an execution that does not exist leaves no log behind', async (t) => {
      const store = await factory(t)
      // Whether it rejects is up to the store; a log without an execution could never be
      // deleted (delete answers false) nor purged (purge selects executions).
      await store.appendEvents('ghost', events('ghost', 1, 2)).catch(() => {})
      t.equal(await store.lastSeq('ghost'), 0, 'unknown execution: lastSeq stays 0')
      t.strictSame(await store.readEvents('ghost', 0, 10), [], 'unknown execution: no events')
      await store.create(record('gone', { status: 'success' }))
      await store.appendEvents('gone', events('gone', 1, 2))
      t.equal(await store.delete('gone'), true)
      await store.appendEvents('gone', [event('gone', 1)]).catch(() => {})
      t.equal(await store.lastSeq('gone'), 0, 'deleted execution: a late append does not bring a log back')
      t.strictSame(await store.readEvents('gone', 0, 10), [], 'deleted execution: no events')
    })

    t.test('appendEvents: batches for several executions in the same tick all land', async (t) => {
      const store = await factory(t)
      for (const id of ['x', 'y', 'z', 'bad']) await store.create(record(id))
      await store.appendEvents('bad', [event('bad', 1)])
      const results = await Promise.allSettled([
        store.appendEvents('x', events('x', 1, 3)),
        store.appendEvents('y', events('y', 1, 1)),
        store.appendEvents('bad', [event('bad', 3)]), // a gap: only this one fails
        store.appendEvents('x', events('x', 4, 5)), // continues the batch above, same tick
        store.appendEvents('z', events('z', 1, 10))
      ])
      t.strictSame(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
      t.strictSame(await store.readEvents('x', 0, 100), events('x', 1, 5), 'x: both batches, in order')
      t.strictSame(await store.readEvents('y', 0, 100), events('y', 1, 1), 'y')
      t.strictSame(await store.readEvents('z', 0, 100), events('z', 1, 10), 'z')
      t.equal(await store.lastSeq('bad'), 1, 'the bad batch stored nothing')
    })

    t.test('readEvents returns the right slice with the data appended', async (t) => {
      const store = await factory(t)
      await store.create(record('e1'))
      await store.create(record('other'))
      const appended: ExecutionEvent[] = [
        event('e1', 1, { command: 'bolt command run "echo ü" --targets=a' }, 'command'),
        event('e1', 2, { target: 'a', output: 'héllo wörld — 日本語 🎉 \u2028\n' }),
        event('e1', 3, { target: 'a', output: 'windows\r\nline\r\n' }, 'stderr'),
        event('e1', 4, { target: null, output: 'nul\u0000inside\u0000\n' }),
        event('e1', 5, { nested: { a: [1, { b: null, c: [true, false] }], s: '"quoted" \\ back\tslash' }, n: -1.25e-7, empty: {}, list: [] }, 'status'),
        event('e1', 6, { target: 'b', output: '\u001b[31mred\u001b[0m\n', truncated: true }),
        event('e1', 7, null, 'status'),
        event('e1', 8, { status: 'success', results: [{ target: 'a', status: 'success', value: { x: 'ü' } }] }, 'complete')
      ]
      await store.appendEvents('e1', appended.slice(0, 3))
      await store.appendEvents('e1', appended.slice(3))
      await store.appendEvents('other', events('other', 1, 4))

      t.strictSame(await store.readEvents('e1', 0, 100), appended, 'all, deep-equal to what was appended')
      t.strictSame(await store.readEvents('e1', 0, 3), appended.slice(0, 3), 'after 0, limit 3')
      t.strictSame(await store.readEvents('e1', 2, 2), appended.slice(2, 4), 'after 2, limit 2')
      t.strictSame(await store.readEvents('e1', 5, 100), appended.slice(5), 'after 5')
      t.strictSame(await store.readEvents('e1', 7, 1), appended.slice(7), 'the last one')
      t.strictSame(await store.readEvents('e1', 8, 10), [], 'after the last')
      t.strictSame(await store.readEvents('e1', 42, 10), [], 'beyond the last')
      t.strictSame(await store.readEvents('unknown', 0, 10), [], 'unknown execution')
      const [nul] = await store.readEvents('e1', 3, 1)
      t.equal((nul.data as { output: string }).output, 'nul\u0000inside\u0000\n', 'NUL characters survive')
      t.equal((nul.data as { output: string }).output.length, 'nul\u0000inside\u0000\n'.length)
      t.equal(await store.lastSeq('e1'), 8, 'lastSeq')
      t.equal(await store.lastSeq('other'), 4, 'lastSeq is per execution')
      t.equal(await store.lastSeq('unknown'), 0, 'lastSeq of an unknown execution is 0')
      t.strictSame(await store.readEvents('other', 1, 2), events('other', 2, 3))
    })

    t.test('waitForEvents', async (t) => {
      const store = await factory(t)
      await store.create(record('e1'))
      await store.create(record('e2'))
      await store.appendEvents('e1', [event('e1', 1)])

      let start = Date.now()
      t.equal(await held(store.waitForEvents('e1', 0, 5000)), true, 'events after the cursor exist: true')
      t.ok(Date.now() - start < 500, `at once (${Date.now() - start} ms)`)

      start = Date.now()
      let settled = false
      const waiting = store.waitForEvents('e1', 1, 5000).then((v) => { settled = true; return v })
      await sleep(60)
      t.equal(settled, false, 'still waiting before any append')
      await store.appendEvents('e2', [event('e2', 1)])
      await sleep(30)
      t.equal(settled, false, "another execution's append does not end the wait")
      await store.appendEvents('e1', [event('e1', 2)])
      t.equal(await held(waiting), true, 'a later append: true')
      const took = Date.now() - start
      t.ok(took < 2000, `well before the 5 s timeout (${took} ms)`)

      start = Date.now()
      t.equal(await held(store.waitForEvents('e1', 2, 150)), false, 'no append: false after the timeout')
      const waited = Date.now() - start
      t.ok(waited >= 140 && waited < 2000, `after about 150 ms (${waited} ms)`)

      const controller = new AbortController()
      start = Date.now()
      const aborted = store.waitForEvents('e1', 2, 10_000, controller.signal)
      setTimeout(() => controller.abort(), 50)
      t.equal(await held(aborted), false, 'abort: false')
      t.ok(Date.now() - start < 2000, `promptly (${Date.now() - start} ms)`)

      const already = new AbortController()
      already.abort()
      start = Date.now()
      t.equal(await held(store.waitForEvents('e1', 2, 10_000, already.signal)), false, 'an already aborted signal: false')
      t.ok(Date.now() - start < 500, 'at once')
      t.equal(await held(store.waitForEvents('e1', 1, 10_000, already.signal)), true, 'events already there win over an aborted signal')
    })

    t.test('setProcessGroup and listUnfinished', async (t) => {
      const store = await factory(t)
      const group = { pgid: 4242, bootId: 'boot-1', pidNamespace: 'pid:[4026531836]' }
      await store.create(record('r1'))
      await store.create(record('f1', { status: 'success', completedAt: '2024-01-01T00:00:05.000Z' }))
      await store.create(record('r2', { targets: ['a', 'b'] }))
      await store.create(record('f2', { status: 'running' }))
      await store.setProcessGroup('r1', group)
      await store.setProcessGroup('f1', { ...group, pgid: 1 })
      await store.setProcessGroup('f2', { ...group, pgid: 2 })
      await store.update('f2', { status: 'cancelled' })
      await t.resolves(store.setProcessGroup('missing', group), 'an unknown id is harmless')

      const unfinished = await store.listUnfinished()
      const byId = new Map(unfinished.map((u) => [u.record.id, u]))
      t.strictSame([...byId.keys()].sort(), ['r1', 'r2'], 'only running executions')
      t.strictSame(byId.get('r1')?.processGroup, group, 'with their process group')
      t.equal(byId.get('r2')?.processGroup, null, 'or null')
      t.strictSame(byId.get('r2')?.record, record('r2', { targets: ['a', 'b'] }), 'the full record')

      await store.setProcessGroup('r1', null)
      const after = new Map((await store.listUnfinished()).map((u) => [u.record.id, u]))
      t.equal(after.get('r1')?.processGroup, null, 'cleared')
      await store.update('r2', { status: 'interrupted' })
      t.strictSame((await store.listUnfinished()).map((u) => u.record.id), ['r1'], 'a finished one leaves the list')
    })

    t.test('purge', async (t) => {
      const store = await factory(t)
      const OLD = '2020-01-01T00:00:00.000Z'
      const cutoff = '2024-01-01T00:00:00.000Z'
      const day = (n: number): string => `2025-01-${String(n).padStart(2, '0')}T00:00:00.000Z`
      await store.create(record('o1', { status: 'success', startedAt: OLD }))
      await store.create(record('o2', { status: 'running', startedAt: '2020-01-02T00:00:00.000Z' }))
      await store.create(record('o3', { status: 'failed', startedAt: '2023-12-31T23:59:59.999Z' }))
      for (let i = 1; i <= 4; i++) await store.create(record(`n${i}`, { status: 'success', startedAt: day(i) }))
      await store.create(record('n5', { status: 'running', startedAt: day(5) }))
      for (const id of ['o1', 'o2', 'o3', 'n1', 'n2', 'n3', 'n4', 'n5']) await store.appendEvents(id, events(id, 1, 3))
      const remaining = (): Promise<string[]> => ids(store, { limit: 50 })

      t.equal(await store.purge({ startedBefore: cutoff, maxExecutions: 1000 }), 2, 'old finished executions go: returns 2')
      t.strictSame(await remaining(), ['n5', 'n4', 'n3', 'n2', 'n1', 'o2'], 'o1 and o3 gone, the old running o2 kept')
      for (const id of ['o1', 'o3']) {
        t.equal(await store.get(id), undefined, `${id} gone`)
        t.strictSame(await store.readEvents(id, 0, 10), [], `${id}: events gone`)
        t.equal(await store.lastSeq(id), 0, `${id}: lastSeq 0`)
      }

      t.equal(await store.purge({ startedBefore: cutoff, maxExecutions: 3 }), 3, 'beyond maxExecutions: 3 go')
      t.strictSame(await remaining(), ['n5', 'n4', 'o2'], 'the oldest finished went (n1, n2, n3)')
      for (const id of ['n1', 'n2', 'n3']) t.strictSame(await store.readEvents(id, 0, 10), [], `${id}: events gone`)
      t.strictSame(await store.readEvents('n4', 0, 10), events('n4', 1, 3), 'kept executions keep their events')

      t.equal(await store.purge({ startedBefore: '2100-01-01T00:00:00.000Z', maxExecutions: 0 }), 1, 'everything finished goes')
      t.strictSame(await remaining(), ['n5', 'o2'], 'running executions are never purged, even old and over the limit')
      t.strictSame(await store.readEvents('o2', 0, 10), events('o2', 1, 3), 'nor their events')
      t.equal(await store.purge({ startedBefore: '2100-01-01T00:00:00.000Z', maxExecutions: 0 }), 0, 'nothing more: 0')
    })

    t.test('purge: age and count in one pass', async (t) => {
      const store = await factory(t)
      await store.create(record('old', { status: 'success', startedAt: '2020-01-01T00:00:00.000Z' }))
      for (let i = 1; i <= 3; i++) await store.create(record(`new${i}`, { status: 'success', startedAt: `2025-02-0${i}T00:00:00.000Z` }))
      await store.create(record('run', { status: 'running', startedAt: '2025-02-09T00:00:00.000Z' }))
      t.equal(await store.purge({ startedBefore: '2024-01-01T00:00:00.000Z', maxExecutions: 2 }), 3)
      t.strictSame(await ids(store, { limit: 10 }), ['run', 'new3'], 'old by age, then new1 and new2 by count')
    })

    t.test('checkWritable resolves', async (t) => {
      const store = await factory(t)
      await t.resolves(store.checkWritable())
      await store.create(record('e1'))
      await t.resolves(store.checkWritable(), 'again')
    })
  })
}

contract('memory', async (t) => {
  const store = new MemoryStore({ maxExecutions: 1_000_000, maxBytes: 2 ** 40 })
  t.teardown(() => store.close())
  return store
})

contract('sqlite', async (t) => {
  const store = new SqliteStore(join(tempDir(t), 'store.db'))
  t.teardown(() => store.close())
  return store
})

// Every store of the redis contract on one server of this file's own, each under a prefix of its own.
let redisServer: TestRedis | undefined
let stores = 0
contract('redis', async (t) => {
  redisServer ??= await startRedis(tap)
  const store = await RedisStore.open(await connectRedis(redisServer.url, 'contract'), { prefix: `contract-${++stores}:` })
  t.teardown(() => store.close())
  return store
}, { skip: redisMissing })

t.test('sqlite only', async (t) => {
  t.test('data survives closing and reopening the file', async (t) => {
    const path = join(tempDir(t), 'nested', 'dir', 'history.db')
    const first = new SqliteStore(path)
    for (let i = 1; i <= 5; i++) {
      await first.create(record(`e${i}`, { status: i === 5 ? 'running' : 'success', startedAt: `2024-05-0${i}T00:00:00.000Z`, results: [{ target: 'web1', status: 'success', stdout: `r${i}` }] }))
    }
    const logged = [event('e2', 1, { target: 'web1', output: 'ü\r\n\u0000' }), event('e2', 2, { nested: { a: [1] } }, 'status')]
    await first.appendEvents('e2', logged)
    await first.setProcessGroup('e5', { pgid: 99, bootId: 'b', pidNamespace: 'n' })
    await first.delete('e4')
    const firstPage = await first.list({ limit: 2 })
    t.strictSame(firstPage.executions.map((e) => e.id), ['e5', 'e3'])
    const expected = await first.get('e2')
    // An append made just before close is flushed, not lost.
    const late = first.appendEvents('e3', [event('e3', 1)])
    await first.close()
    await late

    const second = new SqliteStore(path)
    t.teardown(() => second.close())
    t.strictSame(await second.get('e2'), expected, 'record')
    t.strictSame(await second.readEvents('e2', 0, 10), logged, 'events')
    t.strictSame(await second.readEvents('e3', 0, 10), [event('e3', 1)], 'the append made before close')
    t.equal(await second.lastSeq('e2'), 2)
    t.strictSame((await second.list({ limit: 10 })).executions.map((e) => e.id), ['e5', 'e3', 'e2', 'e1'], 'order')
    const next = await second.list({ limit: 2, cursor: firstPage.nextCursor ?? undefined })
    t.strictSame(next.executions.map((e) => e.id), ['e2', 'e1'], 'a cursor of the previous run still works')
    t.equal(next.nextCursor, null)
    t.strictSame((await second.listUnfinished()).map((u) => [u.record.id, u.processGroup]), [['e5', { pgid: 99, bootId: 'b', pidNamespace: 'n' }]], 'process groups')

    await second.create(record('e6', { startedAt: '2024-04-01T00:00:00.000Z', status: 'success' }))
    t.strictSame((await second.list({ limit: 10 })).executions.map((e) => e.id), ['e6', 'e5', 'e3', 'e2', 'e1'], 'new executions come first')
    await second.appendEvents('e2', [event('e2', 3)])
    t.equal(await second.lastSeq('e2'), 3, 'the log continues')
    await rejection(t, second.appendEvents('e2', [event('e2', 1)]), 'and keeps refusing seqs that do not continue it')
  })

  t.test('a file that is not a database', async (t) => {
    const path = join(tempDir(t), 'not-a-db.db')
    writeFileSync(path, 'this is certainly not an SQLite database\n'.repeat(200))
    let caught: unknown
    try {
      const store = new SqliteStore(path)
      await store.close()
    } catch (err) {
      caught = err
    }
    t.ok(caught instanceof Error, 'throws')
    const message = (caught as Error | undefined)?.message ?? ''
    t.match(message, 'DATABASE_PATH', 'the message names DATABASE_PATH')
    t.match(message, path, 'and the path')
    t.equal((caught as { code?: unknown } | undefined)?.code, 'BOLT_STREAM_STORE_UNAVAILABLE')
  })

  t.test('purging an execution with 5,000 events removes them all', async (t) => {
    const path = join(tempDir(t), 'big.db')
    const store = new SqliteStore(path)
    t.teardown(() => store.close())
    await store.create(record('big', { status: 'success', startedAt: '2020-01-01T00:00:00.000Z' }))
    await store.create(record('keep', { status: 'success', startedAt: '2025-01-01T00:00:00.000Z' }))
    await store.appendEvents('big', events('big', 1, 5000))
    await store.appendEvents('keep', events('keep', 1, 10))
    t.equal(await store.lastSeq('big'), 5000)
    const start = Date.now()
    t.equal(await store.purge({ startedBefore: '2024-01-01T00:00:00.000Z', maxExecutions: 1000 }), 1, 'one execution purged')
    t.comment(`purge took ${Date.now() - start} ms`)
    t.equal(await store.get('big'), undefined)
    t.equal(await store.lastSeq('big'), 0)
    t.strictSame(await store.readEvents('big', 0, 10), [])
    const raw = new Database(path, { readonly: true })
    try {
      t.equal(raw.prepare('SELECT COUNT(*) FROM events WHERE execution_id = ?').pluck().get('big'), 0, 'no event row left in the file')
      t.equal(raw.prepare('SELECT COUNT(*) FROM events WHERE execution_id = ?').pluck().get('keep'), 10, 'the other log intact')
    } finally {
      raw.close()
    }
    t.equal(await store.lastSeq('keep'), 10)
  })
})
