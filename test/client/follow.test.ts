import { createServer } from 'node:http'
import t from 'tap'
import { BoltStreamClient, BoltStreamError, backoffDelay, type ConnectionState, type LoggedEvent } from '../../client/index.js'
import { build, makeTokens, until } from '../helper.js'
import { cuttingProxy } from './cutting-proxy.js'

/** Every logged event of an execution, as the events API pages them. */
async function logOf (client: BoltStreamClient, id: string): Promise<LoggedEvent[]> {
  const events: LoggedEvent[] = []
  let after = 0
  while (true) {
    const page = await client.events(id, { after, limit: 1000 })
    events.push(...page.events)
    if (page.events.length === 0) return events
    after = page.nextAfter
  }
}

async function collect (iterable: AsyncIterable<LoggedEvent>): Promise<LoggedEvent[]> {
  const events: LoggedEvent[] = []
  for await (const event of iterable) events.push(event)
  return events
}

const port = (url: string): number => Number(new URL(url).port)

// A run that prints many numbered lines over a few seconds, on two targets.
const MANY_LINES = 'for i in $(seq 1 300); do echo "line $i"; [ $((i % 10)) -eq 0 ] && sleep 0.05; done; true'

for (const transport of ['fetch', 'eventsource'] as const) {
  t.test(`${transport}: resumes through random cuts, every event once and in order`, async (t) => {
    const tokens = makeTokens({ ops: ['read', 'execute', 'expert'] })
    const { url } = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env } })
    const seed = Math.floor(Math.random() * 2 ** 31)
    t.comment(`proxy seed ${seed}`)
    const proxy = await cuttingProxy(port(url), { seed, minBytes: 200, maxBytes: 16_000 })
    t.teardown(() => proxy.close())
    const direct = new BoltStreamClient({ baseUrl: url, token: tokens.token.ops })
    const requests: string[] = []
    const client = new BoltStreamClient({
      baseUrl: proxy.url,
      token: tokens.token.ops,
      fetch: (input, init) => { requests.push(`${init?.method ?? 'GET'} ${String(input)}`); return fetch(input, init) }
    })
    const { executionId } = await direct.runCommand({ targets: ['a', 'b'], command: MANY_LINES, expertMode: true })
    const states: ConnectionState[] = []
    const live = await collect(client.follow(executionId, { transport, minBackoffMs: 1, maxBackoffMs: 20, onConnection: (s) => states.push(s) }))
    const log = await logOf(direct, executionId)
    t.same(live, log, 'live: the log, each event once, in order')
    t.equal(live.at(-1)?.type, 'complete')
    const lines = live.filter((e) => e.type === 'stdout' && e.data.target === 'a').map((e) => e.type === 'stdout' ? e.data.output : '').join('')
    t.equal(lines.split('\n').filter((l) => l.startsWith('line ')).length, 300, 'all 300 lines of target a')
    t.ok(proxy.cuts() > 0, `the proxy cut ${proxy.cuts()} connections`)
    t.ok(states.filter((s) => s.state === 'open').length > 1, 'it reconnected')
    const afterOpen = states.filter((s, i) => s.state === 'reconnecting' && states[i - 1]?.state === 'open')
    t.ok(afterOpen.every((s) => s.attempt === 1), 'the backoff starts again after a successful connection')
    t.equal(states.at(-1)?.state, 'closed')

    // After the end: the whole log again, replayed through the cuts.
    const replay = await collect(client.follow(executionId, { transport, minBackoffMs: 1, maxBackoffMs: 20 }))
    t.same(replay, log, 'replay: the same events')
    // Resuming in the middle: only what follows.
    const middle = log[Math.floor(log.length / 2)]
    const rest = await collect(client.follow(executionId, { transport, lastEventId: String(middle.seq), minBackoffMs: 1, maxBackoffMs: 20 }))
    t.same(rest, log.filter((e) => e.seq > middle.seq), 'after lastEventId: the rest')
    // After the terminal event: nothing (204).
    t.same(await collect(direct.follow(executionId, { transport, lastEventId: String(log.at(-1)!.seq) })), [], 'nothing after the end')

    const streams = requests.filter((r) => r.startsWith('GET ') && r.includes('/stream'))
    const tickets = requests.filter((r) => r.startsWith('POST ') && r.endsWith('/stream-ticket'))
    if (transport === 'eventsource') {
      const used = streams.map((r) => new URL(r.slice(4)).searchParams.get('ticket'))
      t.ok(used.every((ticket) => ticket !== null && ticket.length > 0), 'every stream connection used a ticket')
      t.equal(new Set(used).size, used.length, 'a fresh ticket for each connection')
      t.ok(tickets.length >= used.length, 'tickets asked for each connection')
    } else {
      t.equal(tickets.length, 0, 'fetch sends the token header, no ticket')
    }
  })

  t.test(`${transport}: abort ends the iteration cleanly and closes the stream`, async (t) => {
    const { app, url } = await build(t, { listen: true })
    const client = new BoltStreamClient({ baseUrl: url })
    const { executionId } = await client.runCommand({ targets: ['a'], command: 'echo started; sleep 30', expertMode: true })
    t.teardown(() => client.cancel(executionId).catch(() => {}))
    const controller = new AbortController()
    const states: string[] = []
    const seen: LoggedEvent[] = []
    for await (const event of client.follow(executionId, { transport, signal: controller.signal, onConnection: (s) => states.push(s.state) })) {
      seen.push(event)
      if (event.type === 'stdout') controller.abort()
    }
    t.ok(seen.some((e) => e.type === 'stdout'), 'got the output before aborting')
    t.equal(states.at(-1), 'closed')
    await until(async () => (await app.inject('/api/streaming/stats')).json().subscribers === 0, 10_000, 'the stream to close')
    t.pass('the server saw the stream close')
    t.equal((await client.getExecution(executionId)).status, 'running', 'the execution was not cancelled')
  })

  t.test(`${transport}: 401 and 404 end the follow with a BoltStreamError`, async (t) => {
    const tokens = makeTokens({ ops: ['read', 'execute'] })
    const { url } = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env } })
    const client = new BoltStreamClient({ baseUrl: url, token: tokens.token.ops })
    const { executionId } = await client.runCommand({ targets: ['a'], command: 'true' })
    const unknown = '00000000-0000-4000-8000-000000000000'
    await t.rejects(collect(client.follow(unknown, { transport })), { name: 'BoltStreamError', status: 404, code: 'BOLT_STREAM_EXECUTION_NOT_FOUND' })
    const anonymous = new BoltStreamClient({ baseUrl: url })
    await t.rejects(collect(anonymous.follow(executionId, { transport })), { status: 401, code: 'BOLT_STREAM_UNAUTHORIZED' })
    const wrong = new BoltStreamClient({ baseUrl: url, token: 'not-a-token' })
    await t.rejects(collect(wrong.follow(executionId, { transport })), { status: 401, code: 'BOLT_STREAM_INVALID_TOKEN' })
    const done = await collect(client.follow(executionId, { transport }))
    t.equal(done.at(-1)?.type, 'complete', 'the same client with its token follows to the end')
  })
}

t.test('backoff: full jitter within bounds, doubling, capped', async (t) => {
  const bounds = { minMs: 250, maxMs: 15_000 }
  t.equal(backoffDelay(1, { ...bounds, random: () => 0 }), 250)
  t.equal(backoffDelay(1, { ...bounds, random: () => 0.999999 }), 250, 'first attempt: the minimum')
  t.equal(backoffDelay(2, { ...bounds, random: () => 0.999999 }), 500)
  t.equal(backoffDelay(4, { ...bounds, random: () => 0.999999 }), 2000)
  t.equal(backoffDelay(4, { ...bounds, random: () => 0.5 }), 1125, 'halfway between min and the cap')
  t.equal(backoffDelay(20, { ...bounds, random: () => 0.999999 }), 15_000, 'capped at the maximum')
  t.equal(backoffDelay(5000, { ...bounds, random: () => 0.999999 }), 15_000, 'no overflow')
  for (let attempt = 1; attempt < 30; attempt++) {
    const d = backoffDelay(attempt, bounds)
    if (d < 250 || d > 15_000) t.fail(`attempt ${attempt}: ${d}`)
  }
})

t.test('follow retries a refused connection with growing delays', async (t) => {
  // A port nothing listens on.
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const dead = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  await new Promise<void>((resolve) => server.close(() => resolve()))
  const client = new BoltStreamClient({ baseUrl: dead })
  const controller = new AbortController()
  const states: ConnectionState[] = []
  const events = await collect(client.follow('00000000-0000-4000-8000-000000000000', {
    signal: controller.signal,
    minBackoffMs: 10,
    maxBackoffMs: 40,
    random: () => 0.999999,
    onConnection: (s) => {
      states.push(s)
      if (s.state === 'reconnecting' && s.attempt === 4) controller.abort()
    }
  }))
  t.same(events, [])
  const waits = states.filter((s) => s.state === 'reconnecting')
  t.same(waits.map((s) => s.delayMs), [10, 20, 40, 40], 'doubling from the minimum, capped')
  t.ok(waits.every((s) => s.error instanceof BoltStreamError && s.error.code === 'ECONNREFUSED'), 'the error says connection refused')
  t.equal(states.at(-1)?.state, 'closed')
})

t.test('follow honours Retry-After on 429 and 503', async (t) => {
  let calls = 0
  const server = createServer((_req, res) => {
    calls += 1
    res.writeHead(calls === 1 ? 429 : 503, { 'content-type': 'application/json', 'retry-after': calls === 1 ? '1' : '2' })
    res.end(JSON.stringify({ error: { code: 'BOLT_STREAM_TOO_MANY_STREAMS', message: 'busy' } }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close(); server.closeAllConnections() })
  const client = new BoltStreamClient({ baseUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}` })
  const controller = new AbortController()
  const waits: ConnectionState[] = []
  await collect(client.follow('00000000-0000-4000-8000-000000000000', {
    signal: controller.signal,
    minBackoffMs: 1,
    maxBackoffMs: 5,
    onConnection: (s) => {
      if (s.state !== 'reconnecting') return
      waits.push(s)
      if (waits.length === 2) controller.abort()
    }
  }))
  t.same(waits.map((s) => [s.error?.status, s.error?.code, s.delayMs]), [[429, 'BOLT_STREAM_TOO_MANY_STREAMS', 1000], [503, 'BOLT_STREAM_TOO_MANY_STREAMS', 2000]])
})

t.test('fetch transport: a consumer that does not pull does not make the client read the socket', async (t) => {
  const { app, url } = await build(t, { listen: true })
  const client = new BoltStreamClient({ baseUrl: url })
  const { executionId } = await client.runCommand({ targets: ['a'], command: 'head -c 6000000 /dev/zero | tr "\\0" x | fold -w 100', expertMode: true })
  const iterator = client.follow(executionId)[Symbol.asyncIterator]()
  const first = await iterator.next()
  t.equal(first.done, false)
  // Not pulling: the server must see bytes waiting for this reader.
  await until(async () => (await app.inject('/api/streaming/stats')).json().bufferedBytes > 0, 20_000, 'bytes to wait for the reader')
  t.pass('the server holds bytes the reader has not taken')
  await iterator.return?.()
  await until(async () => (await app.inject('/api/streaming/stats')).json().subscribers === 0, 10_000, 'the stream to close')
})
