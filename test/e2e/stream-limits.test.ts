import { request } from 'node:http'
import t from 'tap'
import { loadConfig } from '../../services/config/load-config.js'
import { build, getJson, openStream, postJson, tempDir, until } from '../helper.js'

t.test('per-client and total stream limits answer 429; the counters return to zero', async (t) => {
  const ctx = await build(t, { listen: true, env: { MAX_STREAMS_PER_CLIENT: '3', MAX_STREAMS: '5', TRUST_PROXY: '127.0.0.1' } })
  const id = (await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: 'sleep 30', expertMode: true })).json.executionId
  const url = `${ctx.url}/api/executions/${id}/stream`
  const from = (ip: string) => ({ 'x-forwarded-for': ip })

  const mine = await Promise.all([1, 2, 3].map(() => openStream(url, from('10.0.0.1'))))
  t.same(mine.map((s) => s.status), [200, 200, 200])
  const fourth = await openStream(url, from('10.0.0.1'))
  await fourth.ended
  t.equal(fourth.status, 429, 'a fourth stream of the same client')
  t.equal(fourth.headers['retry-after'], '5')
  t.equal(JSON.parse(fourth.body).error.code, 'BOLT_STREAM_TOO_MANY_STREAMS')

  const others = await Promise.all([1, 2].map(() => openStream(url, from('10.0.0.2'))))
  t.same(others.map((s) => s.status), [200, 200], 'another client has its own allowance')
  const over = await openStream(url, from('10.0.0.3'))
  await over.ended
  t.equal(over.status, 429, 'the total is reached')
  t.same(ctx.app.sseConnections.counts(), { streams: 5, clients: 2 })

  for (const s of [...mine, ...others]) s.close()
  await until(() => ctx.app.sseConnections.counts().streams === 0, 5000, 'streams to be released')
  t.same(ctx.app.sseConnections.counts(), { streams: 0, clients: 0 })
  await ctx.app.inject({ method: 'POST', url: `/api/executions/${id}/cancel` })
})

t.test('1,000 mixed connects, aborts and server-side ends leak no counter', async (t) => {
  const ctx = await build(t, { listen: true, env: { MAX_STREAMS_PER_CLIENT: '1000' } })
  const live = (await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: 'sleep 30', expertMode: true })).json.executionId
  const done = (await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: 'echo done', expertMode: true })).json.executionId
  await until(async () => (await getJson(`${ctx.url}/api/executions/${done}`)).json.status === 'success', 10_000, 'a finished execution')
  const { port } = new URL(ctx.url)
  const started = Date.now()
  // Bounded: 1,000 attempts in batches of 50, and at most 60 s.
  for (let batch = 0; batch < 20 && Date.now() - started < 60_000; batch++) {
    await Promise.all(Array.from({ length: 50 }, (_, i) => new Promise<void>((resolve) => {
      const n = batch * 50 + i
      // Finished executions end from the server side; live ones are aborted by the client,
      // some before the response, some after it.
      const target = n % 3 === 0 ? done : live
      const req = request({ host: '127.0.0.1', port: Number(port), path: `/api/executions/${target}/stream`, headers: { accept: 'text/event-stream' } }, (res) => {
        res.resume()
        res.once('close', () => resolve())
        if (target === live) setTimeout(() => req.destroy(), n % 7)
      })
      req.once('error', () => resolve())
      req.end()
      if (n % 5 === 1) setImmediate(() => req.destroy())
    })))
  }
  await until(() => ctx.app.sseConnections.counts().streams === 0 && ctx.app.sseConnections.size === 0, 10_000, 'every stream released')
  t.same(ctx.app.sseConnections.counts(), { streams: 0, clients: 0 })
  t.equal((await getJson(`${ctx.url}/api/streaming/stats`)).json.subscribers, 0)
  t.equal(ctx.app.streaming.stats().liveSubscribers, 0)
  await ctx.app.inject({ method: 'POST', url: `/api/executions/${live}/cancel` })
})

t.test('TRUST_PROXY accepts true or addresses and ranges, and names a bad entry', async (t) => {
  const dir = tempDir(t)
  t.equal(loadConfig({}, dir).trustProxy, false)
  t.equal(loadConfig({ TRUST_PROXY: 'true' }, dir).trustProxy, true)
  t.equal(loadConfig({ TRUST_PROXY: '10.0.0.0/8, ::1' }, dir).trustProxy, '10.0.0.0/8,::1')
  t.throws(() => loadConfig({ TRUST_PROXY: 'proxy.example' }, dir), /TRUST_PROXY entry "proxy.example"/)
  t.throws(() => loadConfig({ TRUST_PROXY: '10.0.0.0/40' }, dir), /TRUST_PROXY entry/)
})
