import t from 'tap'
import { SingleFlightCache } from '../../../services/discovery/cache.js'

/** A load the test finishes by hand, counting how often it was started. */
function manualLoads () {
  const started: Array<{ resolve: (v: string) => void, reject: (e: Error) => void }> = []
  const load = () => new Promise<string>((resolve, reject) => { started.push({ resolve, reject }) })
  return { started, load }
}

t.test('kept for ttlMs, then loaded again', async (t) => {
  let now = 1000
  const cache = new SingleFlightCache<string>({ ttlMs: 60_000, maxEntries: 10, now: () => now })
  const { started, load } = manualLoads()
  const first = cache.get('k', load)
  started[0].resolve('one')
  t.equal(await first, 'one')
  now += 59_999
  t.equal(await cache.get('k', load), 'one', 'kept')
  t.equal(started.length, 1)
  now += 1
  const again = cache.get('k', load)
  t.equal(started.length, 2, 'expired: loaded again')
  started[1].resolve('two')
  t.equal(await again, 'two')
})

t.test('one load for callers that ask while it runs; refresh joins it too', async (t) => {
  const cache = new SingleFlightCache<string>({ ttlMs: 0, maxEntries: 10 })
  const { started, load } = manualLoads()
  const callers = [cache.get('k', load), cache.get('k', load), cache.get('k', load, true)]
  t.equal(started.length, 1)
  started[0].resolve('v')
  t.same(await Promise.all(callers), ['v', 'v', 'v'])
  t.equal(cache.loading, 0)
  void cache.get('k', load)
  t.equal(started.length, 2, 'ttl 0: nothing kept')
  started[1].resolve('w')
})

t.test('refresh skips the kept answer; a passing failure leaves it in place; answers-as-failures are kept', async (t) => {
  const cache = new SingleFlightCache<string>({ ttlMs: 60_000, maxEntries: 10, keepFailure: (e) => (e as Error).message === 'unknown' })
  const { started, load } = manualLoads()
  const first = cache.get('k', load)
  started[0].resolve('one')
  await first
  const refresh = cache.get('k', load, true)
  started[1].reject(new Error('timeout'))
  await t.rejects(refresh, /timeout/)
  t.equal(await cache.get('k', load), 'one', 'the earlier answer is still there')
  t.equal(started.length, 2)

  const missing = cache.get('missing', load)
  started[2].reject(new Error('unknown'))
  await t.rejects(missing, /unknown/)
  await t.rejects(cache.get('missing', load), /unknown/, 'kept')
  t.equal(started.length, 3)
})

t.test('at most maxEntries kept, the oldest dropped first', async (t) => {
  const cache = new SingleFlightCache<string>({ ttlMs: 60_000, maxEntries: 2 })
  let loads = 0
  const load = async () => String(++loads)
  await cache.get('a', load)
  await cache.get('b', load)
  await cache.get('c', load)
  t.equal(loads, 3)
  await cache.get('c', load)
  await cache.get('b', load)
  t.equal(loads, 3, 'b and c kept')
  await cache.get('a', load)
  t.equal(loads, 4, 'a was dropped')
})
