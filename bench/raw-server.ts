// The raw baseline: a minimal node:http SSE server, the practical upper bound the service is
// compared with. It spawns the SAME emitter as the service's Bolt stand-in does (directly, with
// no Bolt in between), reads its stdout line by line and, for every line, serialises ONE frame of
// the service's shape once and writes it to every client with res.write. Writes made for one
// chunk of emitter output are corked together per client (one writev per client and chunk), which
// is what a careful hand-written server would do. While a client's buffer is over its high-water
// mark the emitter's stdout is paused (memory stays bounded; the emitter blocks). One shared
// heartbeat timer; every frame is kept in memory for replay (P5).
//
//   node --import tsx bench/raw-server.ts --port <n> [--host 127.0.0.1] [--heartbeat-ms 15000]
//
//   POST /ctl/channels   {args: string[]}  -> 202 {executionId, status, streamUrl}; spawns the emitter
//   GET  /ctl/channels/:id                 -> {id, status, frames}
//   GET  /stream/:id                       -> text/event-stream: `start`, every stored frame, then live
//                                             frames; a finished channel is replayed and the response ends
//   GET  /health                           -> 200
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'

const EMITTER = fileURLToPath(new URL('./emitter.mjs', import.meta.url))

function arg (name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? def : process.argv[i + 1]
}
const host = arg('host', '127.0.0.1')
const port = Number(arg('port', '0'))
const heartbeatMs = Number(arg('heartbeat-ms', '15000'))

interface Channel {
  id: string
  seq: number
  frames: string[]
  clients: Set<ServerResponse>
  status: 'running' | 'success' | 'failed'
  child: ChildProcess
}

const channels = new Map<string, Channel>()
const open = new Set<ServerResponse>()

function frame (channel: Channel, type: string, data: unknown): string {
  const seq = ++channel.seq
  const payload = { type, executionId: channel.id, timestamp: new Date().toISOString(), seq, data }
  return `id: ${seq}\nevent: ${type}\ndata: ${JSON.stringify(payload)}\n\n`
}

function broadcast (channel: Channel, frames: string[]): void {
  for (const f of frames) channel.frames.push(f)
  for (const res of channel.clients) {
    if (frames.length === 1) {
      res.write(frames[0])
      continue
    }
    res.cork()
    for (const f of frames) res.write(f)
    res.uncork()
  }
}

function startChannel (args: string[]): Channel {
  const id = randomUUID()
  const child = spawn(process.execPath, [EMITTER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const channel: Channel = { id, seq: 0, frames: [], clients: new Set(), status: 'running', child }
  channels.set(id, channel)
  broadcast(channel, [frame(channel, 'status', { status: 'running' })])
  let rest = ''
  child.stdout?.setEncoding('utf8')
  const stdout = child.stdout
  stdout?.on('data', (text: string) => {
    const lines = (rest + text).split('\n')
    rest = lines.pop() ?? ''
    if (lines.length === 0) return
    const out: string[] = new Array(lines.length)
    for (let i = 0; i < lines.length; i++) out[i] = frame(channel, 'stdout', { target: 't1', output: lines[i] + '\n' })
    broadcast(channel, out)
    // Backpressure: stop reading the emitter while a client's buffer is over its high-water mark,
    // so memory stays bounded and the emitter blocks instead.
    const slow = [...channel.clients].filter((res) => res.writableNeedDrain)
    if (slow.length > 0 && stdout !== null) {
      stdout.pause()
      let left = slow.length
      const resume = (): void => { if (--left === 0) stdout.resume() }
      for (const res of slow) {
        const done = (): void => {
          res.off('drain', done)
          res.off('close', done)
          resume()
        }
        res.on('drain', done)
        res.on('close', done)
      }
    }
  })
  child.once('close', (code) => {
    const frames: string[] = []
    if (rest.length > 0) frames.push(frame(channel, 'stdout', { target: 't1', output: rest + '\n' }))
    channel.status = code === 0 ? 'success' : 'failed'
    frames.push(frame(channel, 'status', { status: channel.status }))
    frames.push(frame(channel, 'complete', { status: channel.status, results: [], outputTruncated: false }))
    broadcast(channel, frames)
    for (const res of channel.clients) {
      open.delete(res)
      res.end()
    }
    channel.clients.clear()
  })
  return channel
}

function json (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function stream (res: ServerResponse, channel: Channel): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
    connection: 'keep-alive'
  })
  const start = { type: 'start', executionId: channel.id, timestamp: new Date().toISOString(), data: { status: channel.status, resumeAfter: 0, lastSeq: channel.seq } }
  res.cork()
  res.write(`event: start\ndata: ${JSON.stringify(start)}\nretry: 2000\n\n`)
  for (const f of channel.frames) res.write(f)
  res.uncork()
  if (channel.status !== 'running') {
    res.end()
    return
  }
  open.add(res)
  channel.clients.add(res)
  res.once('close', () => {
    open.delete(res)
    channel.clients.delete(res)
  })
}

const server = createServer((req, res) => {
  const url = req.url ?? '/'
  if (req.method === 'GET' && url === '/health') return json(res, 200, { status: 'ok' })
  if (req.method === 'POST' && url === '/ctl/channels') {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => { body += c })
    req.on('end', () => {
      const { args } = JSON.parse(body) as { args: string[] }
      const channel = startChannel(args)
      json(res, 202, { executionId: channel.id, status: 'running', streamUrl: `/stream/${channel.id}` })
    })
    return
  }
  let m = /^\/ctl\/channels\/([0-9a-f-]+)$/.exec(url)
  if (req.method === 'GET' && m !== null) {
    const channel = channels.get(m[1])
    if (channel === undefined) return json(res, 404, { error: 'unknown channel' })
    return json(res, 200, { id: channel.id, status: channel.status, frames: channel.frames.length })
  }
  m = /^\/stream\/([0-9a-f-]+)$/.exec(url)
  if (req.method === 'GET' && m !== null) {
    const channel = channels.get(m[1])
    if (channel === undefined) return json(res, 404, { error: 'unknown channel' })
    return stream(res, channel)
  }
  json(res, 404, { error: 'not found' })
})
server.listen({ host, port, backlog: 4096 }, () => {
  const address = server.address()
  if (address !== null && typeof address !== 'string') process.stdout.write(`listening ${address.port}\n`)
})

const heartbeat = setInterval(() => {
  for (const res of open) if (!res.writableEnded && !res.writableNeedDrain) res.write(': heartbeat\n\n')
}, heartbeatMs)

function shutdown (): void {
  clearInterval(heartbeat)
  for (const channel of channels.values()) if (channel.status === 'running') channel.child.kill('SIGKILL')
  for (const res of open) res.destroy()
  server.close()
  setTimeout(() => process.exit(0), 200).unref()
}
process.once('SIGTERM', shutdown)
process.once('SIGINT', shutdown)
