import { Redis } from 'ioredis'
import t from 'tap'
import { connectRedis } from '../../../services/store/redis-connection.js'
import { RedisStore } from '../../../services/store/redis-store.js'
import type { ExecutionEvent } from '../../../schemas/index.js'
import { makeRecord as record, held } from '../../helper.js'
import { redisMissing, startRedis } from '../../redis-server.js'

// What the contract cannot see: how the Redis store lays out its data and uses its connections.

const event = (id: string, seq: number): ExecutionEvent =>
  ({ type: 'stdout', executionId: id, timestamp: '2024-01-01T00:00:00.000Z', seq, data: { target: 'a', output: `${seq}\n` } })

t.test('redis store', { skip: redisMissing }, async (t) => {
  const server = await startRedis(t)
  const admin = new Redis(server.url)
  t.teardown(() => admin.quit())
  const open = async (name: string): Promise<RedisStore> => {
    const store = await RedisStore.open(await connectRedis(server.url, name), { prefix: 'p:' })
    t.teardown(() => store.close())
    return store
  }
  // Two stores on one Redis: two processes of the service.
  const a = await open('a')
  const b = await open('b')

  t.test('event log entries have ids <seq>-0', async (t) => {
    await a.create(record('ids'))
    await a.appendEvents('ids', [event('ids', 1), event('ids', 2), event('ids', 3)])
    const entries = await admin.xrange('p:ev:ids', '-', '+')
    t.strictSame(entries.map(([id]) => id), ['1-0', '2-0', '3-0'])
    t.strictSame((await b.readEvents('ids', 1, 10)).map((e) => e.seq), [2, 3], 'another process reads them from a cursor')
  })

  t.test('one blocking connection per process serves every waiter', async (t) => {
    const ids = Array.from({ length: 20 }, (_, i) => `w${i}`)
    for (const id of ids) await a.create(record(id))
    // 40 waiters in b, two per execution, at different cursors.
    for (const id of ids) await a.appendEvents(id, [event(id, 1)])
    const woken = new Map<string, boolean[]>()
    const waits = ids.flatMap((id) => [0, 1].map(async (which) => {
      const found = await b.waitForEvents(id, which === 0 ? 1 : 2, 20_000)
      woken.set(`${id}/${which}`, [found])
      return found
    }))
    // Every waiter is registered before anything is appended: an XREAD under way names them all.
    await held(new Promise<void>((resolve) => {
      const check = (): void => { void admin.info('clients').then((info) => { if (/blocked_clients:1\r?\n/.test(info)) resolve(); else setTimeout(check, 20) }) }
      check()
    }))
    const list = await admin.client('LIST') as string
    const tails = list.split('\n').filter((l) => / name=bolt-stream-tail /.test(l))
    t.equal(tails.length, 2, 'two tail connections on the server: one per store (process)')
    const blocked = /blocked_clients:(\d+)/.exec(await admin.info('clients'))?.[1]
    t.equal(blocked, '1', 'one client blocked, whatever the number of waiters')

    // Appends from the other process: seq 2 wakes the waiters after 1; seq 3 those after 2.
    for (const id of ids) await a.appendEvents(id, [event(id, 2)])
    const firstHalf = await held(Promise.all(waits.filter((_, i) => i % 2 === 0)))
    t.ok(firstHalf.every((f) => f), 'waiters after seq 1 woke on seq 2')
    t.equal([...woken.keys()].filter((k) => k.endsWith('/1')).length, 0, 'waiters after seq 2 still wait')
    for (const id of ids) await a.appendEvents(id, [event(id, 3)])
    t.ok((await held(Promise.all(waits))).every((f) => f), 'and woke on seq 3')
  })

  t.test('list filters read only the records of the page (indexes, not a scan)', async (t) => {
    const pipeline = []
    for (let i = 0; i < 300; i++) {
      pipeline.push(a.create(record(`l${i}`, {
        targets: i % 100 === 7 ? ['needle', `host${i}`] : [`host${i}`],
        status: i % 2 === 0 ? 'success' : 'failed',
        startedAt: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString()
      })))
    }
    await Promise.all(pipeline)
    const hgetall = async (): Promise<number> => Number(/cmdstat_hgetall:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0)
    let before = await hgetall()
    const page = await b.list({ limit: 20, target: 'needle' })
    t.strictSame(page.executions.map((e) => e.id), ['l207', 'l107', 'l7'])
    t.equal(await hgetall() - before, 3, 'three records read for three matches among 300')

    before = await hgetall()
    const combined = await b.list({ limit: 2, status: 'failed', since: new Date(Date.UTC(2024, 0, 1) + 100 * 60_000).toISOString(), until: new Date(Date.UTC(2024, 0, 1) + 110 * 60_000).toISOString() })
    t.strictSame(combined.executions.map((e) => e.id), ['l109', 'l107'])
    t.equal(await hgetall() - before, 2, 'status + time range: only the page is read')
    const next = await b.list({ limit: 2, status: 'failed', since: new Date(Date.UTC(2024, 0, 1) + 100 * 60_000).toISOString(), until: new Date(Date.UTC(2024, 0, 1) + 110 * 60_000).toISOString(), cursor: combined.nextCursor ?? undefined })
    t.strictSame(next.executions.map((e) => e.id), ['l105', 'l103'], 'the cursor continues the intersection')
    t.equal((await admin.keys('p:tmp:*')).length, 0, 'no temporary key left behind')
  })
})
