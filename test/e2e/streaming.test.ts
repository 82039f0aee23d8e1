import { EventSource } from 'eventsource'
import t from 'tap'
import { build, getJson, openStream, postJson, until, type SseEvent, type TestApp } from '../helper.js'

const isTerminal = (e: SseEvent) => e.event === 'complete' || e.event === 'error'
const seqsOf = (events: SseEvent[]) => events.filter((e) => e.id !== undefined).map((e) => Number(e.id))
const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)

async function start (ctx: TestApp, path: string, body: Record<string, unknown>): Promise<string> {
  const res = await postJson(`${ctx.url}/api/${path}`, body)
  if (res.status !== 202) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.json)}`)
  return res.json.executionId as string
}

async function finished (ctx: TestApp, id: string): Promise<any> {
  await until(async () => (await getJson(`${ctx.url}/api/executions/${id}`)).json.status !== 'running', 20_000, 'the execution to finish')
  // The terminal event is logged right after the record is updated.
  await until(() => !ctx.app.streaming.isLive(id), 5000, 'the channel to close')
  return (await getJson(`${ctx.url}/api/executions/${id}`)).json
}

t.test('live output arrives while Bolt still runs', async (t) => {
  const ctx = await build(t, { listen: true })
  const id = await start(ctx, 'commands', { targets: ['a'], command: 'echo first; sleep 1.5; echo second', expertMode: true })
  const stream = await openStream(`${ctx.url}/api/executions/${id}/stream`)
  t.equal(stream.status, 200)
  t.match(stream.headers['content-type'], /^text\/event-stream/)
  t.equal(stream.headers['cache-control'], 'no-cache, no-transform')
  t.equal(stream.headers['x-accel-buffering'], 'no')
  const first = await stream.waitFor((e) => e.event === 'stdout')
  t.equal(first.payload.data.output, 'first\n')
  t.equal(first.payload.data.target, 'a')
  t.equal((await getJson(`${ctx.url}/api/executions/${id}`)).json.status, 'running', 'Bolt was still running')
  t.notOk(stream.events.some((e) => e.event === 'stdout' && e.payload.data.output === 'second\n'))
  const second = await stream.waitFor((e) => e.event === 'stdout' && e.payload.data.output === 'second\n')
  t.ok(second.receivedAt - first.receivedAt > 1000, 'the second line came later, as printed')
  const terminal = await stream.waitFor(isTerminal)
  await stream.ended
  t.equal(terminal.event, 'complete')
  t.equal(terminal.payload.data.status, 'success')

  const events = stream.events
  t.equal(events[0].event, 'start', 'start comes first')
  t.equal(events[0].id, undefined, 'start has no id')
  t.equal(events[0].payload.seq, undefined)
  t.same(events[0].payload.data, { status: 'running', resumeAfter: 0, lastSeq: events[0].payload.data.lastSeq })
  t.same(seqsOf(events), range(1, seqsOf(events).length), 'ids 1..N without gaps')
  t.same(events.slice(1).map((e) => e.event), ['status', 'command', 'stdout', 'stdout', 'status', 'complete'])
  for (const e of events.slice(1)) {
    t.equal(e.payload.seq, Number(e.id))
    t.equal(e.payload.executionId, id)
    t.equal(e.payload.type, e.event)
  }
  t.match(events[2].payload.data.command, /^bolt command run .*--targets=a -- /)
})

t.test('late joiners and reconnects get exactly the missing events', async (t) => {
  const ctx = await build(t, { listen: true })
  const id = await start(ctx, 'commands', {
    targets: ['a', 'b'], command: 'for i in 1 2 3 4 5 6; do echo line $i; echo warn $i >&2; sleep 0.15; done', expertMode: true
  })
  // A first client reads a while, then drops.
  const first = await openStream(`${ctx.url}/api/executions/${id}/stream`)
  await first.waitFor((e) => e.event === 'stdout' && String(e.payload.data.output).includes('line 2'))
  first.close()
  const seen = seqsOf(first.events)
  const lastSeen = seen[seen.length - 1]
  // It reconnects with Last-Event-ID while the run goes on.
  const again = await openStream(`${ctx.url}/api/executions/${id}/stream`, { 'last-event-id': String(lastSeen) })
  await again.waitFor(isTerminal)
  await again.ended
  t.same(again.events[0].payload.data.resumeAfter, lastSeen)
  const resumed = seqsOf(again.events)
  t.equal(resumed[0], lastSeen + 1, 'resumes right after its last id')
  const record = await finished(ctx, id)
  t.equal(record.status, 'success')

  // The full log, read after the end, is exactly what the two connections got together.
  const full = await openStream(`${ctx.url}/api/executions/${id}/stream`)
  await full.ended
  const all = seqsOf(full.events)
  t.same([...seen, ...resumed], all, 'no gap, no duplicate')
  t.same(all, range(1, all.length))
  const payloads = (events: SseEvent[]) => events.filter((e) => e.id !== undefined).map((e) => JSON.stringify(e.payload))
  t.same([...payloads(first.events), ...payloads(again.events)], payloads(full.events), 'identical payloads on replay')

  // A late joiner with a cursor in the middle; the header wins over the query.
  const mid = Math.floor(all.length / 2)
  const late = await openStream(`${ctx.url}/api/executions/${id}/stream?lastEventId=1`, { 'last-event-id': String(mid) })
  await late.ended
  t.same(seqsOf(late.events), range(mid + 1, all.length))
  const byQuery = await openStream(`${ctx.url}/api/executions/${id}/stream?lastEventId=${mid}`)
  await byQuery.ended
  t.same(seqsOf(byQuery.events), range(mid + 1, all.length), 'the query parameter serves a first connection')

  // Everything seen: 204, so EventSource stops reconnecting.
  const done = await openStream(`${ctx.url}/api/executions/${id}/stream`, { 'last-event-id': String(all.length) })
  t.equal(done.status, 204)
  for (const bad of ['abc', '-1', '1.5', String(all.length + 1)]) {
    const res = await openStream(`${ctx.url}/api/executions/${id}/stream`, { 'last-event-id': bad })
    await res.ended
    t.equal(res.status, 400, `Last-Event-ID ${bad}`)
    t.equal(JSON.parse(res.body).error.code, 'BOLT_STREAM_INVALID_EVENT_ID')
  }
  const unknown = await openStream(`${ctx.url}/api/executions/00000000-0000-4000-8000-000000000000/stream`)
  await unknown.ended
  t.equal(unknown.status, 404)
  const malformed = await openStream(`${ctx.url}/api/executions/nope/stream`)
  await malformed.ended
  t.equal(malformed.status, 400)
})

t.test('a spec-compliant EventSource reconnects by itself and misses nothing', async (t) => {
  const ctx = await build(t, { listen: true })
  const id = await start(ctx, 'commands', { targets: ['a'], command: 'for i in $(seq 1 30); do echo n$i; sleep 0.1; done', expertMode: true })
  const es = new EventSource(`${ctx.url}/api/executions/${id}/stream`)
  const received: Array<{ type: string, id: string }> = []
  let opens = 0
  let dropped = false
  const done = new Promise<void>((resolve) => {
    for (const type of ['status', 'command', 'stdout', 'stderr', 'complete', 'error']) {
      es.addEventListener(type, (e) => {
        // EventSource also fires 'error' on connection loss: a plain event without data.
        if (type === 'error' && typeof (e as MessageEvent).data !== 'string') return
        received.push({ type, id: e.lastEventId })
        if (!dropped && type === 'stdout' && received.length > 4) {
          dropped = true
          // The server ends every stream (as a replica going away would); the client must resume.
          ctx.app.sseConnections.endAll()
        }
        if (type === 'complete' || type === 'error') {
          es.close()
          resolve()
        }
      })
    }
    es.addEventListener('open', () => { opens++ })
  })
  await done
  t.ok(dropped)
  t.equal(opens, 2, 'reconnected once')
  const ids = received.map((r) => Number(r.id))
  t.same(ids, range(1, ids.length), 'every event once, in order, across the reconnect')
  t.equal(received[received.length - 1].type, 'complete')
  t.ok(received.some((r) => r.type === 'stdout'))
})

t.test('expertMode off: no command or output events, results still carry the output', async (t) => {
  const ctx = await build(t, { listen: true })
  const id = await start(ctx, 'commands', { targets: ['a'], command: 'echo secret-output; echo err >&2' })
  const stream = await openStream(`${ctx.url}/api/executions/${id}/stream`)
  await stream.waitFor(isTerminal)
  await stream.ended
  t.same(stream.events.map((e) => e.event), ['start', 'status', 'status', 'complete'])
  const complete = stream.events[3].payload.data as any
  t.equal(complete.results[0].stdout, 'secret-output\n')
  const record = await finished(ctx, id)
  t.equal(record.command, null)
  t.equal(record.results[0].stderr, 'err\n')
})

t.test('timeout, cancel and a missing binary end with one error event', async (t) => {
  const ctx = await build(t, { listen: true, env: { EXECUTION_TIMEOUT_MS: '1000' } })
  const timedOut = await start(ctx, 'commands', { targets: ['a'], command: 'echo x; sleep 30', expertMode: true })
  const s1 = await openStream(`${ctx.url}/api/executions/${timedOut}/stream`)
  await s1.ended
  const terminals1 = s1.events.filter(isTerminal)
  t.equal(terminals1.length, 1)
  t.equal(terminals1[0].event, 'error')
  t.equal(terminals1[0].payload.data.status, 'timed_out')
  t.same(s1.events.filter((e) => e.event === 'status').map((e) => e.payload.data.status), ['running', 'timed_out'])
  t.equal((await finished(ctx, timedOut)).status, 'timed_out')

  // Its own app without the 1 s timeout: on a loaded machine Bolt's start alone can take that long.
  const patient = await build(t, { listen: true })
  const cancelled = await start(patient, 'commands', { targets: ['a'], command: 'sleep 0.5; echo y; sleep 30', expertMode: true })
  const s2 = await openStream(`${patient.url}/api/executions/${cancelled}/stream`)
  await s2.waitFor((e) => e.event === 'stdout')
  const res = await postJson(`${patient.url}/api/executions/${cancelled}/cancel`, {})
  t.equal(res.status, 202)
  await s2.ended
  const terminal = s2.events.filter(isTerminal)
  t.equal(terminal.length, 1)
  t.equal(terminal[0].event, 'error')
  t.equal(terminal[0].payload.data.status, 'cancelled')
  t.equal((terminal[0].payload.data.error as any).kind, 'bolt-stream/cancelled')

  const missing = await build(t, { listen: true, env: { BOLT_PATH: '/nonexistent/bolt' } })
  const id = await start(missing, 'commands', { targets: ['a'], command: 'true', expertMode: true })
  const s3 = await openStream(`${missing.url}/api/executions/${id}/stream`)
  await s3.ended
  const e3 = s3.events.filter(isTerminal)
  t.equal(e3.length, 1)
  t.equal(e3[0].event, 'error')
  t.equal((e3[0].payload.data.error as any).kind, 'bolt-stream/bolt-not-found')
})

t.test('huge output: exactly MAX_OUTPUT_BYTES streamed, then one marker, and the run completes', async (t) => {
  const ctx = await build(t, { listen: true, env: { MAX_OUTPUT_BYTES: '50000' } })
  const id = await start(ctx, 'commands', { targets: ['a'], command: 'yes 0123456789 | head -c 2000000; echo after >&2', expertMode: true })
  const stream = await openStream(`${ctx.url}/api/executions/${id}/stream`)
  await stream.ended
  const output = stream.events.filter((e) => (e.event === 'stdout' || e.event === 'stderr') && e.payload.data.truncated !== true)
  const bytes = output.reduce((n, e) => n + Buffer.byteLength(e.payload.data.output as string), 0)
  t.equal(bytes, 50_000)
  const markers = stream.events.filter((e) => e.payload.data.truncated === true)
  t.equal(markers.length, 1)
  t.equal(markers[0].event, 'stderr')
  t.equal(markers[0].payload.data.target, null)
  t.match(markers[0].payload.data.output, /truncated/)
  const after = stream.events.slice(stream.events.indexOf(markers[0]) + 1).map((e) => e.event)
  t.same(after, ['status', 'complete'], 'nothing but the end after the marker')
  const record = await finished(ctx, id)
  t.equal(record.status, 'success')
  t.equal(record.outputTruncated, true)
  t.ok(Buffer.byteLength(record.results[0].stdout) <= 50_000)
})

t.test('buffering: chatty output becomes at most one event per interval per target', async (t) => {
  const ctx = await build(t, { listen: true })
  const id = await start(ctx, 'commands', { targets: ['a'], command: 'for i in $(seq 1 100); do echo $i; sleep 0.01; done', expertMode: true })
  const stream = await openStream(`${ctx.url}/api/executions/${id}/stream`)
  await stream.ended
  const outs = stream.events.filter((e) => e.event === 'stdout')
  t.equal(outs.map((e) => e.payload.data.output).join(''), range(1, 100).map((n) => `${n}\n`).join(''), 'all output, in order')
  t.ok(outs.length < 40, `${outs.length} events for 100 lines`)
  const times = outs.map((e) => Date.parse(e.payload.timestamp))
  // The last flush, right before the terminal event, may come sooner than the window.
  const gaps = times.slice(1, -1).map((time, i) => time - times[i])
  // Each other event waited for its window; ms-resolution timestamps allow 1 ms of slack.
  t.ok(gaps.every((g) => g >= 99), `gaps between events: ${gaps.join(',')}`)
})

t.test('heartbeats keep an idle stream alive', async (t) => {
  const ctx = await build(t, { listen: true, env: { STREAM_HEARTBEAT_MS: '1000' } })
  const id = await start(ctx, 'commands', { targets: ['a'], command: 'sleep 2.6', expertMode: true })
  const stream = await openStream(`${ctx.url}/api/executions/${id}/stream`)
  await stream.ended
  t.ok(stream.comments.filter((c) => c.trim() === 'heartbeat').length >= 2, `heartbeats: ${stream.comments.length}`)
})

t.test('client disconnects leak nothing', async (t) => {
  const ctx = await build(t, { listen: true })
  const id = await start(ctx, 'commands', { targets: ['a'], command: 'for i in $(seq 1 50); do echo $i; sleep 0.05; done', expertMode: true })
  const streams = await Promise.all(Array.from({ length: 25 }, () => openStream(`${ctx.url}/api/executions/${id}/stream`)))
  await Promise.all(streams.map((s) => s.waitFor((e) => e.event === 'stdout')))
  t.equal((await getJson(`${ctx.url}/api/streaming/stats`)).json.subscribers, 25)
  for (const s of streams) s.close()
  await until(async () => (await getJson(`${ctx.url}/api/streaming/stats`)).json.subscribers === 0, 5000, 'subscribers to drop to 0')
  t.equal(ctx.app.streaming.stats().liveSubscribers, 0)
  await finished(ctx, id)
  const stats = (await getJson(`${ctx.url}/api/streaming/stats`)).json
  const { storeCacheBytes, ...counts } = stats
  t.same(counts, { activeExecutions: 0, queuedExecutions: 0, subscribers: 0, liveChannels: 0, liveSubscribers: 0, bufferedBytes: 0, maxBufferedBytes: 0 })
  t.ok(storeCacheBytes > 0, `the finished execution's log stays cached (${storeCacheBytes} bytes)`)
})
