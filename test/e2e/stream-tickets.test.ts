import { EventSource } from 'eventsource'
import t from 'tap'
import { build, makeTokens, openStream, postJson, until, type SseEvent, type TestApp } from '../helper.js'

// Stream tickets over real connections: EventSource sends no headers, so it opens the stream
// with a single-use ticket; tokens never travel in the URL.

const tokens = makeTokens({
  ops: ['read', 'execute', 'expert'],
  viewer: ['read', 'expert'],
  reader: ['read']
})
const isTerminal = (e: SseEvent) => e.event === 'complete' || e.event === 'error'

async function start (ctx: TestApp, command: string): Promise<string> {
  const res = await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command, expertMode: true }, tokens.auth('ops'))
  if (res.status !== 202) throw new Error(`POST: ${res.status} ${JSON.stringify(res.json)}`)
  return res.json.executionId as string
}

async function ticketFor (ctx: TestApp, id: string, who = 'viewer'): Promise<{ ticket: string, expiresAt: string, streamUrl: string }> {
  const res = await fetch(`${ctx.url}/api/executions/${id}/stream-ticket`, { method: 'POST', headers: tokens.auth(who) })
  if (res.status !== 201) throw new Error(`ticket: ${res.status} ${await res.text()}`)
  return await res.json() as { ticket: string, expiresAt: string, streamUrl: string }
}

t.test('a ticket is random, short-lived, uncacheable and never contains the token', async (t) => {
  const ctx = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env } })
  const id = await start(ctx, 'echo hi')
  const res = await fetch(`${ctx.url}/api/executions/${id}/stream-ticket`, { method: 'POST', headers: tokens.auth('viewer') })
  t.equal(res.status, 201)
  t.equal(res.headers.get('cache-control'), 'no-store')
  const body = await res.json() as { ticket: string, expiresAt: string, streamUrl: string }
  t.match(body.ticket, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url')
  t.notOk(body.ticket.includes(tokens.token.viewer) || tokens.token.viewer.includes(body.ticket.slice(0, 12)), 'unrelated to the token')
  const ttl = Date.parse(body.expiresAt) - Date.now()
  t.ok(ttl > 25_000 && ttl <= 30_000, `expires in about 30 s (${ttl} ms)`)
  t.equal(body.streamUrl, `/api/executions/${id}/stream?ticket=${body.ticket}`)
  const second = await ticketFor(ctx, id)
  t.not(second.ticket, body.ticket, 'each ticket is new')

  const unknown = await fetch(`${ctx.url}/api/executions/00000000-0000-4000-8000-000000000000/stream-ticket`, { method: 'POST', headers: tokens.auth('viewer') })
  t.equal(unknown.status, 404, 'no ticket for an execution that does not exist')
  const withBody = await fetch(`${ctx.url}/api/executions/${id}/stream-ticket`, {
    method: 'POST', headers: { ...tokens.auth('viewer'), 'content-type': 'application/json' }, body: '{"scopes":["execute"]}'
  })
  t.equal(withBody.status, 400, 'a body (asking for scopes, say) is refused')
})

t.test('an EventSource follows with a ticket; on a drop it resumes with a new ticket and misses nothing', async (t) => {
  const ctx = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env } })
  const id = await start(ctx, 'for i in $(seq 1 30); do echo n$i; sleep 0.1; done')
  const received: number[] = []
  let dropped = false
  let failures = 0

  // The client pattern the README gives: a ticket per connection, resuming from the last id.
  const follow = async (lastId: number): Promise<'done' | 'failed'> => {
    const { streamUrl } = await ticketFor(ctx, id)
    const es = new EventSource(`${ctx.url}${streamUrl}${lastId > 0 ? `&lastEventId=${lastId}` : ''}`)
    return new Promise((resolve) => {
      for (const type of ['status', 'command', 'stdout', 'stderr', 'complete', 'error']) {
        es.addEventListener(type, (e) => {
          if (type === 'error' && typeof (e as MessageEvent).data !== 'string') return
          received.push(Number(e.lastEventId))
          if (!dropped && type === 'stdout' && received.length > 4) {
            dropped = true
            ctx.app.sseConnections.endAll()
          }
          if (type === 'complete' || type === 'error') {
            es.close()
            resolve('done')
          }
        })
      }
      es.addEventListener('error', () => {
        // Its own reconnect reuses the spent ticket: refused, and EventSource gives up.
        if (es.readyState === EventSource.CLOSED) {
          failures++
          resolve('failed')
        }
      })
    })
  }
  let outcome = await follow(0)
  for (let i = 0; i < 3 && outcome === 'failed'; i++) outcome = await follow(received.at(-1) ?? 0)
  t.equal(outcome, 'done')
  t.ok(dropped, 'the server dropped the stream once')
  t.equal(failures, 1, 'the reconnect with the spent ticket was refused')
  t.same(received, Array.from({ length: received.length }, (_, i) => i + 1), 'every event once, in order, across the new ticket')
})

t.test('a ticket works once, for its execution, before it expires', async (t) => {
  const ctx = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env, STREAM_TICKET_TTL_MS: '1000' } })
  const a = await start(ctx, 'sleep 30')
  const b = await start(ctx, 'sleep 30')
  t.teardown(async () => {
    for (const id of [a, b]) await postJson(`${ctx.url}/api/executions/${id}/cancel`, {}, tokens.auth('ops'))
  })
  const refused = async (url: string, what: RegExp, note: string) => {
    const s = await openStream(url)
    await s.ended
    t.equal(s.status, 401, note)
    t.equal(s.headers['www-authenticate'], 'Bearer realm="bolt-stream", error="invalid_token"')
    t.equal(JSON.parse(s.body).error.code, 'BOLT_STREAM_INVALID_TICKET')
    t.match(JSON.parse(s.body).error.message, what)
  }

  const first = await ticketFor(ctx, a)
  const ok = await openStream(ctx.url + first.streamUrl)
  t.equal(ok.status, 200, 'the ticket opens the stream, without any header')
  await ok.waitFor((e) => e.event === 'start')
  ok.close()
  await refused(ctx.url + first.streamUrl, /already used/, 'used twice: 401')

  const forA = await ticketFor(ctx, a)
  await refused(`${ctx.url}/api/executions/${b}/stream?ticket=${forA.ticket}`, /another execution/, 'on another execution: 401')
  await refused(ctx.url + forA.streamUrl, /already used/, 'and it is spent by that attempt')

  const late = await ticketFor(ctx, a)
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(late.expiresAt) - Date.now()) + 100))
  await refused(ctx.url + late.streamUrl, /expired/, 'after STREAM_TICKET_TTL_MS: 401')

  await refused(`${ctx.url}/api/executions/${a}/stream?ticket=${'A'.repeat(43)}`, /not valid/, 'a made-up ticket: 401')
  await refused(`${ctx.url}/api/executions/${a}/stream?ticket=`, /not valid/, 'an empty ticket: 401')
  const noTicket = await openStream(`${ctx.url}/api/executions/${a}/stream`)
  await noTicket.ended
  t.equal(noTicket.status, 401, 'neither ticket nor header: 401')

  // Tickets only open streams: other routes do not take them.
  const other = await ticketFor(ctx, a)
  for (const path of [`/api/executions/${a}`, `/api/executions/${a}/events`, `/api/executions/${a}/output`]) {
    const res = await fetch(`${ctx.url}${path}?ticket=${other.ticket}`)
    t.equal(res.status, 401, `${path.replace(a, ':id')}: a ticket is no credential there`)
    t.equal((await res.json() as any).error.code, 'BOLT_STREAM_UNAUTHORIZED')
  }
  const still = await openStream(ctx.url + other.streamUrl)
  t.equal(still.status, 200, 'and those attempts did not spend it')
  still.close()
})

t.test("a ticket carries its token's scopes: without expert, no command, stdout or stderr", async (t) => {
  const ctx = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env } })
  const id = await start(ctx, 'for i in 1 2 3; do echo line$i; echo warn$i >&2; sleep 0.1; done')
  const asReader = await openStream(ctx.url + (await ticketFor(ctx, id, 'reader')).streamUrl)
  const asViewer = await openStream(ctx.url + (await ticketFor(ctx, id, 'viewer')).streamUrl)
  const byHeader = await openStream(`${ctx.url}/api/executions/${id}/stream`, tokens.auth('reader'))
  for (const s of [asReader, asViewer, byHeader]) {
    await s.waitFor(isTerminal)
    await s.ended
  }
  for (const [name, s] of [['reader (ticket)', asReader], ['reader (header)', byHeader]] as const) {
    const types = s.events.map((e) => e.event)
    t.same(types, ['start', 'status', 'status', 'complete'], `${name}: only status and the end`)
    t.equal((s.events.at(-1)!.payload.data as any).results[0].stdout, undefined, `${name}: results without raw output`)
    t.equal((s.events.at(-1)!.payload.data as any).results[0].exitCode, 0)
    t.notMatch(JSON.stringify(s.events), /line1|warn1|echo/, `${name}: nothing of the output or command`)
  }
  const viewerTypes = new Set(asViewer.events.map((e) => e.event))
  for (const type of ['command', 'stdout', 'stderr']) t.ok(viewerTypes.has(type), `an expert ticket gets ${type}`)
  t.equal(asReader.events.at(-1)!.id, asViewer.events.at(-1)!.id, 'the same last id: a reader resumes where an expert would')

  // A late reader catching up from the store gets the same view.
  const replay = await openStream(`${ctx.url}/api/executions/${id}/stream?lastEventId=1`, tokens.auth('reader'))
  await replay.ended
  t.same(replay.events.map((e) => e.event), ['start', 'status', 'complete'])
})

t.test('tickets never reach the logs', async (t) => {
  const ctx = await build(t, { listen: true, captureLogs: true, env: { AUTH_TOKENS: tokens.env } })
  const id = await start(ctx, 'echo hi')
  const used = await ticketFor(ctx, id)
  const s = await openStream(ctx.url + used.streamUrl)
  await s.ended
  const spent = await openStream(`${ctx.url}${used.streamUrl}&lastEventId=0`)
  await spent.ended
  t.equal(spent.status, 401)
  await until(() => ctx.logText().includes('ticket=[REDACTED]'), 2000, 'the stream request to be logged')
  const text = ctx.logText()
  t.notOk(text.includes(used.ticket), 'the ticket value appears nowhere')
  t.notOk(text.includes(tokens.token.viewer) || text.includes(tokens.token.ops), 'nor the tokens')
  t.ok(ctx.logs().some((l) => l.req?.url === `/api/executions/${id}/stream?ticket=[REDACTED]&lastEventId=0`), 'the URL is logged with the ticket blanked')
})

t.test('stream limits count per token, not per address', async (t) => {
  const ctx = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env, MAX_STREAMS_PER_CLIENT: '1' } })
  const id = await start(ctx, 'sleep 30')
  t.teardown(() => postJson(`${ctx.url}/api/executions/${id}/cancel`, {}, tokens.auth('ops')))
  const url = `${ctx.url}/api/executions/${id}/stream`
  const first = await openStream(url, tokens.auth('viewer'))
  t.equal(first.status, 200)
  const second = await openStream(ctx.url + (await ticketFor(ctx, id)).streamUrl)
  await second.ended
  t.equal(second.status, 429, "viewer's second stream, by ticket, is over its limit")
  const other = await openStream(url, tokens.auth('reader'))
  t.equal(other.status, 200, 'another token from the same address has its own allowance')
  t.same(ctx.app.sseConnections.counts(), { streams: 2, clients: 2 })
  first.close()
  other.close()
  await until(() => ctx.app.sseConnections.counts().streams === 0, 5000, 'streams to be released')
})

t.test('unused tickets are bounded per holder', async (t) => {
  const ctx = await build(t, { env: { AUTH_TOKENS: tokens.env } })
  const res = await ctx.app.inject({ method: 'POST', url: '/api/commands', headers: tokens.auth('ops'), payload: { targets: ['a'], command: 'echo x' } })
  const id = res.json().executionId
  const issue = (who: string) => ctx.app.inject({ method: 'POST', url: `/api/executions/${id}/stream-ticket`, headers: tokens.auth(who) })
  for (let i = 0; i < 1000; i++) {
    const r = await issue('viewer')
    if (r.statusCode !== 201) {
      t.fail(`ticket ${i + 1}: ${r.statusCode}`)
      break
    }
  }
  const over = await issue('viewer')
  t.equal(over.statusCode, 429)
  t.equal(over.json().error.code, 'BOLT_STREAM_TOO_MANY_TICKETS')
  t.ok(Number(over.headers['retry-after']) > 0)
  t.equal((await issue('reader')).statusCode, 201, 'another holder is not affected')
})
