import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request, type ClientRequest, type IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { build, getJson, openStream, postJson, ROOT, until, type TestApp, freePort } from '../helper.js'

// The proxy path, proven: a real nginx in front of the service, configured from
// deploy/nginx/bolt-stream.conf with only its addresses and read timeout changed.

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ??
  (spawnSync('sh', ['-c', 'command -v nginx']).stdout?.toString().trim() || undefined)
/** Short, so that "survives several timeouts" takes seconds. */
const READ_TIMEOUT_S = 2

interface Teardown { teardown: (fn: () => unknown) => void }

/** Starts an nginx of its own in front of `app`; stopped and removed at teardown. Its base URL. */
async function startNginx (t: Teardown, app: TestApp): Promise<string> {
  const shipped = readFileSync(join(ROOT, 'deploy/nginx/bolt-stream.conf'), 'utf8')
  const port = await freePort()
  const upstream = new URL(app.url).port
  const site = shipped
    .replace(/server bolt-stream:3000;/, `server 127.0.0.1:${upstream};`)
    .replace(/listen 80;/, `listen 127.0.0.1:${port};`)
    .replace(/proxy_read_timeout 75s;/, `proxy_read_timeout ${READ_TIMEOUT_S}s;`)
  for (const changed of [`127.0.0.1:${upstream}`, `127.0.0.1:${port}`, `proxy_read_timeout ${READ_TIMEOUT_S}s`]) {
    if (!site.includes(changed)) throw new Error(`deploy/nginx/bolt-stream.conf changed shape: could not set ${changed}`)
  }
  const prefix = mkdtempSync(join(tmpdir(), 'bolt-stream-nginx-'))
  t.teardown(() => rmSync(prefix, { recursive: true, force: true }))
  for (const dir of ['logs', 'temp']) mkdirSync(join(prefix, dir))
  writeFileSync(join(prefix, 'bolt-stream.conf'), site)
  writeFileSync(join(prefix, 'nginx.conf'), `
daemon off;
master_process off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${prefix}/temp/body;
  proxy_temp_path ${prefix}/temp/proxy;
  fastcgi_temp_path ${prefix}/temp/fastcgi;
  uwsgi_temp_path ${prefix}/temp/uwsgi;
  scgi_temp_path ${prefix}/temp/scgi;
  include ${prefix}/bolt-stream.conf;
}
`)
  const child = spawn(NGINX!, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'logs/error.log')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => {
    child.kill('SIGTERM')
    await exited
  })
  const url = `http://127.0.0.1:${port}`
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`)
    return fetch(`${url}/health/live`).then((r) => r.status === 200, () => false)
  }, 10_000, 'nginx to answer')
  return url
}

/** A raw stream request from a given local address (127.0.0.x), kept open until closed. */
function streamFrom (url: string, localAddress: string, headers: Record<string, string> = {}): Promise<{ res: IncomingMessage, req: ClientRequest }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, headers: { accept: 'text/event-stream', ...headers } }, (res) => resolve({ res, req }))
    req.once('error', reject)
    req.end()
  })
}

const skip = NGINX === undefined ? 'nginx is not installed: install the Debian package `nginx` (apt-get install nginx)' : false

t.test('through nginx', { skip }, async (t) => {
  t.test('a quiet stream with heartbeats survives several read timeouts; without them nginx cuts it', async (t) => {
    const app = await build(t, { listen: true, env: { STREAM_HEARTBEAT_MS: '1000' } })
    const proxy = await startNginx(t, app)
    const silent = READ_TIMEOUT_S * 3.5
    const res = await postJson(`${proxy}/api/commands`, { targets: ['a'], command: `echo first; sleep ${silent}; echo last`, expertMode: true })
    t.equal(res.status, 202)
    const stream = await openStream(`${proxy}${res.json.streamUrl as string}`)
    t.teardown(() => stream.close())
    await stream.waitFor((e) => e.event === 'stdout')
    const last = await stream.waitFor((e) => e.event === 'stdout' && String(e.payload.data.output).includes('last'), 30_000)
    await stream.waitFor((e) => e.event === 'complete', 10_000)
    await stream.ended
    t.ok(last, `output after ${silent} s of silence (${silent / READ_TIMEOUT_S} read timeouts) came through`)
    t.ok(stream.comments.length >= silent - 1, `${stream.comments.length} heartbeats kept it open`)

    // The same silence without heartbeats: nginx's read timeout is real and ends the stream.
    const quiet = await build(t, { listen: true, env: { STREAM_HEARTBEAT_MS: '300000' } })
    const quietProxy = await startNginx(t, quiet)
    const run = await postJson(`${quietProxy}/api/commands`, { targets: ['a'], command: `echo first; sleep ${silent}; echo last`, expertMode: true })
    const cut = await openStream(`${quietProxy}${run.json.streamUrl as string}`)
    t.teardown(() => cut.close())
    await cut.waitFor((e) => e.event === 'stdout')
    await cut.ended
    t.notOk(cut.events.some((e) => e.event === 'complete'), 'without heartbeats the proxy cut the stream before the end')
  })

  t.test('events pass unbuffered: each arrives within the flush window, long before the execution ends', async (t) => {
    // Heartbeats within the short read timeout (the default 15 s is for nginx's default 75 s).
    const app = await build(t, { listen: true, env: { STREAM_HEARTBEAT_MS: '1000' } })
    const proxy = await startNginx(t, app)
    const res = await postJson(`${proxy}/api/commands`, { targets: ['a'], command: 'echo first; sleep 5; echo second', expertMode: true })
    const stream = await openStream(`${proxy}${res.json.streamUrl as string}`)
    t.teardown(() => stream.close())
    t.equal(stream.headers['content-type'], 'text/event-stream', 'the stream, not a buffered page')
    t.notOk(stream.headers['content-encoding'], 'not compressed')
    const first = await stream.waitFor((e) => e.event === 'stdout')
    const receivedAt = Date.now()
    const lag = receivedAt - Date.parse(first.payload.timestamp)
    t.ok(lag < app.config.streamFlushIntervalMs + 400, `first output ${lag} ms after it was logged (flush window ${app.config.streamFlushIntervalMs} ms)`)
    t.equal((await getJson(`${app.url}/api/executions/${res.json.executionId as string}`)).json.status, 'running', 'while the execution still runs')
    const second = await stream.waitFor((e) => e.event === 'stdout' && String(e.payload.data.output).includes('second'), 15_000)
    t.ok(second.receivedAt - first.receivedAt > 4000, 'the second came on its own, seconds later')
    await stream.ended
  })

  t.test('Last-Event-ID resumes through the proxy', async (t) => {
    const app = await build(t, { listen: true })
    const proxy = await startNginx(t, app)
    const res = await postJson(`${proxy}/api/commands`, { targets: ['a', 'b'], command: 'echo one; echo two; echo three', expertMode: true })
    const whole = await openStream(`${proxy}${res.json.streamUrl as string}`)
    await whole.ended
    const ids = whole.events.filter((e) => e.id !== undefined).map((e) => Number(e.id))
    t.ok(ids.length >= 5, `${ids.length} events`)
    const cursor = ids[1]
    const resumed = await openStream(`${proxy}${res.json.streamUrl as string}`, { 'last-event-id': String(cursor) })
    await resumed.ended
    t.same(resumed.events.filter((e) => e.id !== undefined).map((e) => Number(e.id)), ids.filter((id) => id > cursor), 'exactly the events after it')
    t.equal(resumed.events[0].event, 'start')
    t.equal(resumed.events[0].payload.data.resumeAfter, cursor)
    const done = await fetch(`${proxy}${res.json.streamUrl as string}`, { headers: { accept: 'text/event-stream', 'last-event-id': String(ids[ids.length - 1]) } })
    t.equal(done.status, 204, 'after the terminal event: 204, through the proxy too')
  })

  t.test('the client address reaches the per-client stream limit through TRUST_PROXY', async (t) => {
    const app = await build(t, { listen: true, env: { TRUST_PROXY: '127.0.0.1', MAX_STREAMS_PER_CLIENT: '1' } })
    const proxy = await startNginx(t, app)
    const res = await postJson(`${proxy}/api/commands`, { targets: ['a'], command: 'sleep 30' })
    const url = `${proxy}${res.json.streamUrl as string}`
    const open: ClientRequest[] = []
    t.teardown(() => { for (const req of open) req.destroy() })
    const from = async (address: string, headers: Record<string, string> = {}): Promise<number> => {
      const { res, req } = await streamFrom(url, address, headers)
      open.push(req)
      if (res.statusCode !== 200) res.resume()
      return res.statusCode ?? 0
    }
    t.equal(await from('127.0.0.2'), 200, 'a client gets its stream')
    t.equal(await from('127.0.0.2'), 429, 'and no second one: the limit sees its own address, not the proxy\'s')
    t.equal(await from('127.0.0.3'), 200, 'another client is another client')
    t.equal(await from('127.0.0.3', { 'x-forwarded-for': '127.0.0.9' }), 429, 'a forged X-Forwarded-For does not make a new client')
    t.equal(await from('127.0.0.4', { 'x-forwarded-for': '127.0.0.2' }), 200, 'nor borrow another\'s address')
    await postJson(`${app.url}/api/executions/${res.json.executionId as string}/cancel`, {})
  })

  t.test('without TRUST_PROXY every client behind the proxy is the proxy', async (t) => {
    const app = await build(t, { listen: true, env: { MAX_STREAMS_PER_CLIENT: '1' } })
    const proxy = await startNginx(t, app)
    const res = await postJson(`${proxy}/api/commands`, { targets: ['a'], command: 'sleep 30' })
    const url = `${proxy}${res.json.streamUrl as string}`
    const first = await streamFrom(url, '127.0.0.2')
    const second = await streamFrom(url, '127.0.0.3')
    t.teardown(() => { first.req.destroy(); second.req.destroy() })
    t.equal(first.res.statusCode, 200)
    t.equal(second.res.statusCode, 429, 'two clients share the proxy\'s one slot')
    second.res.resume()
    await postJson(`${app.url}/api/executions/${res.json.executionId as string}/cancel`, {})
  })
})
