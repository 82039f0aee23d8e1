import { connect } from 'node:net'
import parsePrometheusTextFormat, { type MetricFamily, type Sample } from 'parse-prometheus-text-format'
import t from 'tap'
import { build, getJson, makeTokens, openStream, postJson, until, type TestApp, freePort } from '../helper.js'

interface Scrape extends Map<string, MetricFamily> {
  text: string
}

// The exposition, read by a text-format parser, by family name (and kept as text: the parser
// drops the labels of histogram series, which count() reads from the `_count` lines).
async function scrape (url: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`, { headers })
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`)
  const text = await res.text()
  return Object.assign(new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f])), { text })
}

const matches = (sample: Sample, labels: Record<string, string>): boolean =>
  Object.entries(labels).every(([k, v]) => sample.labels?.[k] === v)

/** A counter's or gauge's value for these labels (0 when the series does not exist yet). */
function value (families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name)
  if (family === undefined) throw new Error(`no metric ${name}`)
  return family.metrics.filter((s) => matches(s, labels)).reduce((n, s) => n + Number(s.value), 0)
}

/** A histogram's observation count for these labels, from its `_count` series. */
function count (scraped: Scrape, name: string, labels: Record<string, string> = {}): number {
  if (scraped.get(name)?.type !== 'HISTOGRAM') throw new Error(`no histogram ${name}`)
  let total = 0
  for (const line of scraped.text.split('\n')) {
    const m = new RegExp(`^${name}_count(?:\\{(.*)\\})? (\\S+)$`).exec(line)
    if (m === null) continue
    const found = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]))
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) total += Number(m[2])
  }
  return total
}

async function run (ctx: TestApp, path: string, body: Record<string, unknown>): Promise<string> {
  const res = await postJson(`${ctx.url}/api/${path}`, body)
  if (res.status !== 202) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.json)}`)
  const id = res.json.executionId as string
  await until(async () => !['running', 'queued'].includes((await getJson(`${ctx.url}/api/executions/${id}`)).json.status), 15_000, `${path} to finish`)
  return id
}

t.test('the exposition follows the Prometheus conventions', async (t) => {
  const ctx = await build(t, { listen: true })
  const text = await (await fetch(`${ctx.url}/metrics`)).text()
  const families = parsePrometheusTextFormat(text)
  const ours = families.filter((f) => f.name.startsWith('bolt_stream_'))
  t.ok(families.some((f) => f.name === 'process_cpu_user_seconds_total'), 'default process metrics')
  t.ok(families.some((f) => f.name === 'nodejs_eventloop_lag_seconds'), 'default Node.js metrics')
  t.same(ours.map((f) => f.name).sort(), [
    'bolt_stream_bolt_spawn_failures_total', 'bolt_stream_discovery_cache_hits_total', 'bolt_stream_discovery_failed_runs_total',
    'bolt_stream_discovery_runs_total', 'bolt_stream_events_streamed_total', 'bolt_stream_execution_duration_seconds',
    'bolt_stream_executions_finished_total', 'bolt_stream_executions_queued', 'bolt_stream_executions_running',
    'bolt_stream_executions_started_total', 'bolt_stream_http_request_duration_seconds', 'bolt_stream_slow_consumers_dropped_total',
    'bolt_stream_slow_consumers_fed_from_store_total', 'bolt_stream_sse_subscribers', 'bolt_stream_store_append_duration_seconds',
    'bolt_stream_streamed_bytes_total'
  ], 'the metrics listed in the README')
  for (const f of families) {
    t.match(f.name, /^[a-zA-Z_:][a-zA-Z0-9_:]*$/, `${f.name}: a valid name`)
    t.ok(f.help.length > 0, `${f.name}: has HELP`)
    if (f.type === 'COUNTER') t.match(f.name, /_total$/, `${f.name}: a counter ends in _total`)
  }
  for (const f of ours) {
    // (prom-client's own nodejs_active_*_total are gauges: its names, not ours.)
    if (f.type !== 'COUNTER') t.notMatch(f.name, /_total$/, `${f.name}: only counters end in _total`)
    if (f.type === 'HISTOGRAM') t.match(f.name, /_seconds$/, `${f.name}: durations in seconds`)
    t.match(f.name, /^bolt_stream_[a-z0-9_]+$/, `${f.name}: snake case under the service's prefix`)
  }
  t.match(String((await fetch(`${ctx.url}/metrics`)).headers.get('content-type')), /^text\/plain; version=0\.0\.4/)
})

t.test('runs of each kind move the execution metrics by exactly their count', async (t) => {
  const ctx = await build(t, { listen: true })
  const before = await scrape(ctx.url)
  await run(ctx, 'commands', { targets: ['a'], command: 'echo hi' })
  await run(ctx, 'commands', { targets: ['a', 'b'], command: 'exit 3' })
  await run(ctx, 'tasks', { targets: ['a'], task: 'demo::echo', params: { message: 'x' } })
  await run(ctx, 'puppet-runs', { targets: ['a'] })
  await run(ctx, 'packages', { targets: ['a'], name: 'curl' })
  await run(ctx, 'plans', { plan: 'demo::deploy', targets: ['a'] })
  const after = await scrape(ctx.url)
  const moved = (name: string, labels: Record<string, string>): number => value(after, name, labels) - value(before, name, labels)
  t.equal(moved('bolt_stream_executions_started_total', { type: 'command' }), 2, 'two commands started')
  for (const type of ['task', 'puppet', 'package', 'plan']) {
    t.equal(moved('bolt_stream_executions_started_total', { type }), 1, `one ${type} started`)
    t.equal(count(after, 'bolt_stream_execution_duration_seconds', { type }) - count(before, 'bolt_stream_execution_duration_seconds', { type }), 1, `one ${type} duration observed`)
  }
  t.equal(moved('bolt_stream_executions_finished_total', { type: 'command', status: 'success' }), 1, 'one command succeeded')
  t.equal(moved('bolt_stream_executions_finished_total', { type: 'command', status: 'failed' }), 1, 'one command failed')
  t.equal(moved('bolt_stream_executions_finished_total', {}), 6, 'six ended in all')
  t.equal(count(after, 'bolt_stream_execution_duration_seconds', { type: 'command' }), 2, 'two command durations')
  t.ok(count(after, 'bolt_stream_store_append_duration_seconds') > count(before, 'bolt_stream_store_append_duration_seconds'), 'store appends timed')
  t.equal(value(after, 'bolt_stream_executions_running'), 0)
  t.equal(value(after, 'bolt_stream_bolt_spawn_failures_total'), 0)
})

t.test('gauges: running, queued and open streams, as they are', async (t) => {
  const ctx = await build(t, { listen: true, env: { MAX_CONCURRENT_EXECUTIONS: '1' } })
  const first = (await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: 'sleep 30' })).json.executionId
  const second = (await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: 'echo later' })).json.executionId
  const stream = await openStream(`${ctx.url}/api/executions/${first}/stream`)
  t.teardown(() => stream.close())
  await stream.waitFor((e) => e.event === 'start')
  const now = await scrape(ctx.url)
  t.equal(value(now, 'bolt_stream_executions_running'), 1)
  t.equal(value(now, 'bolt_stream_executions_queued'), 1)
  t.equal(value(now, 'bolt_stream_sse_subscribers'), 1)
  await postJson(`${ctx.url}/api/executions/${second}/cancel`, {})
  await postJson(`${ctx.url}/api/executions/${first}/cancel`, {})
  await stream.ended
  await until(async () => value(await scrape(ctx.url), 'bolt_stream_sse_subscribers') === 0, 5000, 'the stream to close')
  const later = await scrape(ctx.url)
  t.equal(value(later, 'bolt_stream_executions_running'), 0)
  t.equal(value(later, 'bolt_stream_executions_queued'), 0)
  t.equal(value(later, 'bolt_stream_executions_finished_total', { type: 'command', status: 'cancelled' }), 2, 'both ended cancelled')
})

t.test('events and bytes streamed are what the streams carried', async (t) => {
  const ctx = await build(t, { listen: true })
  const id = await run(ctx, 'commands', { targets: ['a', 'b'], command: 'printf "one\\ntwo\\n"', expertMode: true })
  const before = await scrape(ctx.url)
  // Two replays of the finished execution, raw: every frame but the start frame is an event.
  let events = 0
  let bytes = 0
  for (let i = 0; i < 2; i++) {
    const body = await (await fetch(`${ctx.url}/api/executions/${id}/stream`, { headers: { accept: 'text/event-stream' } })).text()
    const frames = body.split('\n\n').filter((f) => f.length > 0 && !f.startsWith('event: start') && !f.startsWith(':'))
    events += frames.length
    bytes += frames.reduce((n, f) => n + Buffer.byteLength(f + '\n\n'), 0)
  }
  const after = await scrape(ctx.url)
  t.ok(events > 4, `${events} events replayed`)
  t.equal(value(after, 'bolt_stream_events_streamed_total') - value(before, 'bolt_stream_events_streamed_total'), events)
  t.equal(value(after, 'bolt_stream_streamed_bytes_total') - value(before, 'bolt_stream_streamed_bytes_total'), bytes)
})

t.test('a reader that stops reading: fed from the store, then dropped', async (t) => {
  const ctx = await build(t, {
    listen: true,
    env: { STREAM_MAX_BUFFERED_BYTES: '65536', STREAM_STALL_TIMEOUT_MS: '500', MAX_OUTPUT_BYTES: '200000000', STREAM_FLUSH_INTERVAL_MS: '5' }
  })
  const res = await postJson(`${ctx.url}/api/commands`, {
    targets: ['a'], command: 'for i in $(seq 1 400); do head -c 20000 /dev/zero | tr "\\0" x; echo; sleep 0.002; done', expertMode: true
  })
  const id = res.json.executionId as string
  const socket = connect(Number(new URL(ctx.url).port), '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.pause()
  socket.write(`GET /api/executions/${id}/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`)
  let families = await scrape(ctx.url)
  await until(async () => {
    families = await scrape(ctx.url)
    return value(families, 'bolt_stream_slow_consumers_dropped_total') === 1
  }, 30_000, 'the stalled reader to be dropped')
  t.ok(value(families, 'bolt_stream_slow_consumers_fed_from_store_total') >= 1, 'it had been fed from the store')
  await postJson(`${ctx.url}/api/executions/${id}/cancel`, {})
})

t.test('Bolt that cannot be spawned, discovery runs and cache hits', async (t) => {
  const missing = await build(t, { listen: true, env: { BOLT_PATH: '/nonexistent/bolt' } })
  await run(missing, 'commands', { targets: ['a'], command: 'echo hi' })
  t.equal(value(await scrape(missing.url), 'bolt_stream_bolt_spawn_failures_total'), 1)

  const ctx = await build(t, { listen: true })
  await getJson(`${ctx.url}/api/tasks`)
  await getJson(`${ctx.url}/api/tasks`)
  await getJson(`${ctx.url}/api/tasks/demo::nosuch`)
  const families = await scrape(ctx.url)
  t.equal(value(families, 'bolt_stream_discovery_runs_total'), 2, 'one run for the list, one for the unknown task')
  t.equal(value(families, 'bolt_stream_discovery_cache_hits_total'), 1, 'the second list was the kept answer')
  t.equal(value(families, 'bolt_stream_discovery_failed_runs_total'), 1, 'Bolt did not know the task')
})

t.test('HTTP durations are labelled by route pattern, never by raw URL', async (t) => {
  const ctx = await build(t, { listen: true })
  const id = await run(ctx, 'commands', { targets: ['a'], command: 'echo hi' })
  await getJson(`${ctx.url}/api/executions/${id}`)
  await getJson(`${ctx.url}/no/such/path/${id}`)
  const families = await scrape(ctx.url)
  const { text } = families
  t.ok(count(families, 'bolt_stream_http_request_duration_seconds', { method: 'GET', route: '/api/executions/:id', status_code: '200' }) >= 1)
  t.ok(count(families, 'bolt_stream_http_request_duration_seconds', { route: 'unmatched', status_code: '404' }) >= 1)
  t.notOk(text.includes(id), 'no execution id in any label')
})

t.test('on the main port /metrics needs the read scope; METRICS_PORT serves it alone, without tokens', async (t) => {
  const tokens = makeTokens({ reader: ['read'], runner: ['execute'] })
  const guarded = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env } })
  t.equal((await fetch(`${guarded.url}/metrics`)).status, 401)
  t.equal((await fetch(`${guarded.url}/metrics`, { headers: tokens.auth('runner') })).status, 403)
  t.ok((await scrape(guarded.url, tokens.auth('reader'))).has('bolt_stream_executions_started_total'))

  const port = await freePort()
  const apart = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env, METRICS_PORT: String(port), HOST: '127.0.0.1' } })
  t.equal((await fetch(`${apart.url}/metrics`, { headers: tokens.auth('reader') })).status, 404, 'not on the API port')
  const families = await scrape(`http://127.0.0.1:${port}`)
  t.ok(families.has('bolt_stream_executions_started_total'), 'on its own port, no token needed')
  t.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404)
  await apart.app.close()
  await t.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'its listener closes with the app')

  const off = await build(t, { listen: true, env: { METRICS_ENABLED: 'false' } })
  t.equal((await fetch(`${off.url}/metrics`)).status, 404, 'METRICS_ENABLED=false: no metrics')
})
