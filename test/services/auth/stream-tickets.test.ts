import t from 'tap'
import { MemoryTicketStore } from '../../../services/auth/stream-tickets.js'
import { until } from '../../helper.js'

const grant = (executionId: string, name: string | null = 'alice') => ({ executionId, name, scopes: ['read' as const] })

t.test('issue and redeem once; any attempt uses the ticket up', async (t) => {
  let now = 1_000_000
  const store = new MemoryTicketStore({ ttlMs: 30_000, maxPerHolder: 10, maxTotal: 100, now: () => now })
  t.teardown(() => store.close())
  const issued = await store.issue(grant('e1'), 'token:alice')
  t.ok(issued !== null)
  t.equal(issued!.expiresAt, new Date(now + 30_000).toISOString())
  t.same(await store.redeem(issued!.ticket, 'e1'), { ok: true, grant: grant('e1') })
  t.same(await store.redeem(issued!.ticket, 'e1'), { ok: false, reason: 'unknown' }, 'single use')

  const wrong = await store.issue(grant('e1'), 'token:alice')
  t.same(await store.redeem(wrong!.ticket, 'e2'), { ok: false, reason: 'other-execution' })
  t.same(await store.redeem(wrong!.ticket, 'e1'), { ok: false, reason: 'unknown' }, 'spent by the wrong attempt')

  const late = await store.issue(grant('e1'), 'token:alice')
  now += 30_000
  t.same(await store.redeem(late!.ticket, 'e1'), { ok: false, reason: 'expired' }, 'at expiresAt it is no longer valid')
  t.same(await store.redeem('not a ticket', 'e1'), { ok: false, reason: 'unknown' })
  t.equal(store.size, 0)
})

t.test('outstanding tickets are bounded per holder and in all; expired ones free their place', async (t) => {
  let now = 0
  const store = new MemoryTicketStore({ ttlMs: 1000, maxPerHolder: 3, maxTotal: 5, now: () => now })
  t.teardown(() => store.close())
  for (let i = 0; i < 3; i++) t.ok(await store.issue(grant('e'), 'a'))
  t.equal(await store.issue(grant('e'), 'a'), null, 'a fourth for the same holder')
  t.ok(await store.issue(grant('e', 'b'), 'b'))
  t.ok(await store.issue(grant('e', 'b'), 'b'))
  t.equal(await store.issue(grant('e', 'c'), 'c'), null, 'the total is reached')
  now += 1000
  t.ok(await store.issue(grant('e', 'c'), 'c'), 'expired tickets are swept before refusing')
  t.equal(store.size, 1)
})

t.test('a redeemed ticket frees its holder a place', async (t) => {
  const store = new MemoryTicketStore({ ttlMs: 1000, maxPerHolder: 1, maxTotal: 10 })
  t.teardown(() => store.close())
  const one = await store.issue(grant('e'), 'a')
  t.equal(await store.issue(grant('e'), 'a'), null)
  await store.redeem(one!.ticket, 'e')
  t.ok(await store.issue(grant('e'), 'a'))
})

t.test('an expired ticket is told expired for one more TTL, then swept', async (t) => {
  let now = 0
  const store = new MemoryTicketStore({ ttlMs: 1000, maxPerHolder: 10, maxTotal: 10, now: () => now, sweepIntervalMs: 5 })
  t.teardown(() => store.close())
  const first = await store.issue(grant('e'), 'a')
  const second = await store.issue(grant('e'), 'a')
  now += 1500
  // Several sweeps run meanwhile; neither ticket has been expired for a whole TTL yet.
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(store.size, 2, 'kept while recently expired')
  t.same(await store.redeem(first!.ticket, 'e'), { ok: false, reason: 'expired' })
  now += 500
  await until(() => store.size === 0, 5000, 'the sweep')
  t.same(await store.redeem(second!.ticket, 'e'), { ok: false, reason: 'unknown' }, 'gone after it')
})
