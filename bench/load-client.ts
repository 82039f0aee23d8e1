// The load generator: a separate process (never inside the server under test) that opens SSE
// connections with plain node:http clients (`agent: false`, one socket each), parses the frames with
// a small parser, and measures per-line latency from the emitter's timestamp to the moment the
// line is parsed here.
//
//   node --import tsx bench/load-client.ts '<json config>'
//
// It prints JSON lines on stdout: {"event":"started",...} once executions are started,
// {"event":"connected",...} once every connection has its response, and {"event":"result",...} at
// the end, then exits. Everything is bounded by `timeoutMs`.
//
// The parser relies on what both servers under test write: LF line ends, one `data:` line per
// event, `: …` comments in frames of their own, and output made of `E <micros> <n> …` lines whose
// JSON escaping is only `\n` (ASCII padding). It reads Buffers and only turns stdout payloads into
// strings, so a 100 MB terminal event costs one copy, not a quadratic re-scan.
import { request, type ClientRequest } from 'node:http'

export interface ClientConfig {
  /** Base URL, e.g. http://127.0.0.1:41234: executions are started there, replays read there. */
  base: string
  /** Replicas to spread the subscribers over (subscriber i of every stream connects to bases[i % n]); default [base]. */
  bases?: string[]
  /** Executions to start first: each body is POSTed to `path`; answers carry {executionId, streamUrl}. */
  start?: { path: string, bodies: unknown[] }
  /** Stream paths to follow when nothing is started. */
  streams?: string[]
  /** Connections per stream. */
  subscribers: number
  /** Connections opened concurrently. */
  batch: number
  /** terminal: until every connection got its terminal event; hold: keep them open holdMs; replay: one at a time. */
  mode: 'terminal' | 'hold' | 'replay'
  holdMs?: number
  /** Terminal mode: a connection dropped before its terminal event resumes with Last-Event-ID. */
  reconnect?: boolean
  /** Replay mode: how many times each stream is replayed, sequentially. */
  repeats?: number
  /** Replay mode: also time the arrival of this many events (the replay of a fixed-size prefix). */
  markEvents?: number
  timeoutMs: number
  /** Sent with every request (the API token). */
  headers?: Record<string, string>
}

export interface Summary { count: number, p50: number, p90: number, p99: number, max: number }

export interface ClientResult {
  event: 'result'
  timedOut: boolean
  connections: number
  failed: number
  statusCodes: Record<string, number>
  terminal: number
  terminalStatuses: Record<string, number>
  /** Connections that ended without a terminal event (terminal mode) or during the hold. */
  closedEarly: number
  /** Still open at the end of the hold. */
  heldOpen: number
  /** Resumptions after the server dropped a connection. */
  reconnects: number
  /** E lines parsed, over all connections. */
  deliveries: number
  linesPerConnection: { min: number, max: number }
  /** Connections whose E line numbers were not 1, 2, 3 … without a gap or duplicate. */
  connectionsWithGaps: number
  /** Milliseconds from the emitter's write to the parse here. */
  latency: Summary
  negativeLatencies: number
  marker: Summary
  heartbeats: { total: number, minPerConnection: number }
  events: number
  /** Epoch microseconds. */
  postedAt: number
  firstLineAt: number
  lastLineAt: number
  lastTerminalAt: number
  firstEmitAt: number
  startLastSeq: number
  replays: Array<{ ms: number, markMs: number | null, events: number, lastSeq: number, terminal: boolean, status: string }>
  connectMs: number
  clientCpuMs: number
}

const NLNL = Buffer.from('\n\n')
const nowMicros = (): number => (performance.timeOrigin + performance.now()) * 1000

/** Latency histogram: 50 µs buckets up to 60 s; the exact maximum is kept aside. */
const BUCKET_US = 50
class Histogram {
  private readonly buckets = new Uint32Array(1_200_000)
  count = 0
  max = 0
  record (micros: number): void {
    let i = Math.floor(micros / BUCKET_US)
    if (i >= this.buckets.length) i = this.buckets.length - 1
    this.buckets[i]++
    this.count++
    if (micros > this.max) this.max = micros
  }

  percentile (p: number): number {
    if (this.count === 0) return NaN
    const rank = Math.ceil((p / 100) * this.count)
    let seen = 0
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]
      if (seen >= rank) return Math.min((i + 0.5) * BUCKET_US, this.max)
    }
    return this.max
  }

  summary (): Summary {
    const ms = (us: number): number => Math.round(us / 10) / 100
    return { count: this.count, p50: ms(this.percentile(50)), p90: ms(this.percentile(90)), p99: ms(this.percentile(99)), max: ms(this.max) }
  }
}

/** Replay mode: the event count whose arrival is timed (0: none). */
let markEvents = 0

class Conn {
  parts: Buffer[] = []
  status = 0
  error = ''
  terminal = false
  terminalStatus = ''
  closed = false
  lines = 0
  lastN = 0
  gaps = false
  heartbeats = 0
  events = 0
  lastSeq = -1
  /** performance.now() when the markEvents-th event arrived. */
  markAt = 0
  req: ClientRequest | null = null
  url = ''
  reconnect = false
  reconnects = 0
  lastId = 0
  onDone: (() => void) | null = null
  counted = false
  heldToEnd = false
}

const latency = new Histogram()
const marker = new Histogram()
let negative = 0
let firstLineAt = Infinity
let lastLineAt = 0
let lastTerminalAt = 0
let firstEmitAt = Infinity

/** Digits at s[from…] up to the next space, as a number (exact below 2^53). */
function digits (s: string, from: number): number {
  let v = 0
  for (let i = from; i < s.length; i++) {
    const d = s.charCodeAt(i) - 48
    if (d < 0 || d > 9) break
    v = v * 10 + d
  }
  return v
}

function lines (c: Conn, s: string, now: number): void {
  let p = s.indexOf('"output":"')
  if (p === -1) return
  p += 10
  const n = s.length
  while (p < n) {
    const ch = s.charCodeAt(p)
    if (ch === 34) break // the closing quote of the output string
    if ((ch === 69 || ch === 77) && s.charCodeAt(p + 1) === 32) {
      const micros = digits(s, p + 2)
      let us = now - micros
      if (us < 0) {
        negative++
        us = 0
      }
      if (ch === 69) {
        const seq = digits(s, s.indexOf(' ', p + 2) + 1)
        if (seq !== c.lastN + 1) c.gaps = true
        c.lastN = seq
        c.lines++
        latency.record(us)
        if (micros < firstEmitAt) firstEmitAt = micros
        if (now < firstLineAt) firstLineAt = now
        if (now > lastLineAt) lastLineAt = now
      } else {
        marker.record(us)
      }
    }
    const nl = s.indexOf('\\n', p)
    if (nl === -1) break
    p = nl + 2
  }
}

function frame (c: Conn, f: Buffer, now: number): void {
  if (f.length === 0) return
  if (f[0] === 0x3a) { // ':' a comment: our servers only send heartbeats
    c.heartbeats++
    return
  }
  let pos = 0
  let event = 'message'
  let hasId = false
  let dataStart = -1
  let dataEnd = -1
  while (pos < f.length) {
    let nl = f.indexOf(10, pos)
    if (nl === -1) nl = f.length
    const b = f[pos]
    if (b === 0x64 && f[pos + 4] === 0x3a) { // data:
      dataStart = pos + (f[pos + 5] === 0x20 ? 6 : 5)
      dataEnd = nl
      break
    } else if (b === 0x65 && f[pos + 5] === 0x3a) { // event:
      event = f.toString('latin1', pos + (f[pos + 6] === 0x20 ? 7 : 6), nl)
    } else if (b === 0x69 && f[pos + 2] === 0x3a) { // id:
      hasId = true
      let v = 0
      for (let i = pos + 3; i < nl; i++) {
        const d = f[i] - 48
        if (d >= 0 && d <= 9) v = v * 10 + d
      }
      c.lastId = v
    }
    pos = nl + 1
  }
  if (hasId && ++c.events === markEvents) c.markAt = performance.now()
  if (dataStart === -1) return
  switch (event) {
    case 'stdout':
      lines(c, f.toString('latin1', dataStart, dataEnd), now)
      break
    case 'complete':
    case 'error': {
      const head = f.toString('latin1', dataStart, Math.min(dataEnd, dataStart + 1024))
      c.terminalStatus = /"data":\{"status":"([a-z_]+)"/.exec(head)?.[1] ?? 'unknown'
      c.terminal = true
      if (now > lastTerminalAt) lastTerminalAt = now
      break
    }
    case 'start': {
      const payload = JSON.parse(f.toString('utf8', dataStart, dataEnd)) as { data: { lastSeq: number } }
      c.lastSeq = payload.data.lastSeq
      break
    }
  }
}

function feed (c: Conn, chunk: Buffer, now: number): void {
  let buf = chunk
  if (c.parts.length > 0) {
    const last = c.parts[c.parts.length - 1]
    let f: Buffer
    if (last[last.length - 1] === 10 && chunk[0] === 10) {
      c.parts[c.parts.length - 1] = last.subarray(0, last.length - 1)
      f = Buffer.concat(c.parts)
      buf = chunk.subarray(1)
    } else {
      const i = chunk.indexOf(NLNL)
      if (i === -1) {
        c.parts.push(chunk)
        return
      }
      c.parts.push(chunk.subarray(0, i))
      f = Buffer.concat(c.parts)
      buf = chunk.subarray(i + 2)
    }
    c.parts = []
    frame(c, f, now)
  }
  let from = 0
  for (;;) {
    const i = buf.indexOf(NLNL, from)
    if (i === -1) break
    frame(c, buf.subarray(from, i), now)
    from = i + 2
  }
  if (from < buf.length) c.parts.push(from === 0 ? buf : buf.subarray(from))
}

/** Reconnections allowed per connection (EventSource-style resume with Last-Event-ID). */
const MAX_RECONNECTS = 2000
let stopping = false

function open (url: string, reconnect = false): Promise<Conn> {
  const c = new Conn()
  c.url = url
  c.reconnect = reconnect
  return new Promise((resolve) => { attach(c, () => resolve(c)) })
}

function attach (c: Conn, onResponse: () => void): void {
  const headers: Record<string, string> = { ...extraHeaders, accept: 'text/event-stream' }
  if (c.lastId > 0) headers['last-event-id'] = String(c.lastId)
  let ended = false
  const finish = (): void => {
    if (ended) return
    ended = true
    // Dropped before the end (the service disconnects subscribers that fall too far behind):
    // resume at once from the last id, as EventSource would after its retry delay.
    if (!c.terminal && c.reconnect && !stopping && c.status === 200 && c.reconnects < MAX_RECONNECTS) {
      c.reconnects++
      c.parts = []
      attach(c, () => {})
      return
    }
    c.closed = true
    c.onDone?.()
  }
  c.req = request(c.url, { agent: false, headers }, (res) => {
    c.status = res.statusCode ?? 0
    res.on('data', (chunk: Buffer) => {
      feed(c, chunk, nowMicros())
      if (c.terminal) c.onDone?.()
    })
    res.once('end', finish)
    res.once('close', finish)
    res.once('error', finish)
    onResponse()
  })
  c.req.once('error', (err) => {
    c.error = err.message
    finish()
    onResponse()
  })
  c.req.end()
}

function out (obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Sent with every request (set from the config at start). */
let extraHeaders: Record<string, string> = {}

async function main (): Promise<void> {
  const config = JSON.parse(process.argv[2]) as ClientConfig
  markEvents = config.markEvents ?? 0
  extraHeaders = config.headers ?? {}
  const cpu0 = process.cpuUsage()
  let timedOut = false
  const deadline = setTimeout(() => { timedOut = true; report() }, config.timeoutMs)
  const conns: Conn[] = []
  const replays: ClientResult['replays'] = []
  let postedAt = 0
  let connectMs = 0
  let reported = false

  function report (): void {
    if (reported) return
    reported = true
    stopping = true
    clearTimeout(deadline)
    const statusCodes: Record<string, number> = {}
    const terminalStatuses: Record<string, number> = {}
    let minLines = Infinity
    let maxLines = 0
    let minHb = Infinity
    let hb = 0
    let events = 0
    let startLastSeq = -1
    for (const c of conns) {
      const code = c.error !== '' ? 'error' : String(c.status)
      statusCodes[code] = (statusCodes[code] ?? 0) + 1
      if (c.terminal) terminalStatuses[c.terminalStatus] = (terminalStatuses[c.terminalStatus] ?? 0) + 1
      minLines = Math.min(minLines, c.lines)
      maxLines = Math.max(maxLines, c.lines)
      minHb = Math.min(minHb, c.heartbeats)
      hb += c.heartbeats
      events += c.events
      startLastSeq = Math.max(startLastSeq, c.lastSeq)
    }
    const result: ClientResult = {
      event: 'result',
      timedOut,
      connections: conns.length,
      failed: conns.filter((c) => c.status !== 200).length,
      statusCodes,
      terminal: conns.filter((c) => c.terminal).length,
      terminalStatuses,
      closedEarly: conns.filter((c) => c.closed && !c.terminal && !c.heldToEnd).length,
      heldOpen: conns.filter((c) => c.heldToEnd).length,
      reconnects: conns.reduce((n, c) => n + c.reconnects, 0),
      deliveries: conns.reduce((n, c) => n + c.lines, 0),
      linesPerConnection: { min: conns.length > 0 ? minLines : 0, max: maxLines },
      connectionsWithGaps: conns.filter((c) => c.gaps).length,
      latency: latency.summary(),
      negativeLatencies: negative,
      marker: marker.summary(),
      heartbeats: { total: hb, minPerConnection: conns.length > 0 ? minHb : 0 },
      events,
      postedAt,
      firstLineAt: Number.isFinite(firstLineAt) ? firstLineAt : 0,
      lastLineAt,
      lastTerminalAt,
      firstEmitAt: Number.isFinite(firstEmitAt) ? firstEmitAt : 0,
      startLastSeq,
      replays,
      connectMs,
      clientCpuMs: (() => { const u = process.cpuUsage(cpu0); return Math.round((u.user + u.system) / 1000) })()
    }
    out(result)
    for (const c of conns) c.req?.destroy()
    // Let stdout drain (it is a pipe: synchronous on Linux), then leave.
    setImmediate(() => process.exit(0))
  }

  let streams = config.streams ?? []
  if (config.start !== undefined) {
    postedAt = nowMicros()
    const ids: string[] = []
    streams = []
    for (const body of config.start.bodies) {
      const res = await fetch(config.base + config.start.path, {
        method: 'POST', headers: { ...config.headers, 'content-type': 'application/json' }, body: JSON.stringify(body)
      })
      const answer = await res.json() as { executionId?: string, streamUrl?: string }
      if (res.status !== 202 || answer.streamUrl === undefined) throw new Error(`start failed: ${res.status} ${JSON.stringify(answer)}`)
      ids.push(answer.executionId ?? '')
      streams.push(answer.streamUrl)
    }
    out({ event: 'started', executionIds: ids, streams, postedAt })
  }

  if (config.mode === 'replay') {
    for (let r = 0; r < (config.repeats ?? 1); r++) {
      for (const path of streams) {
        const t0 = performance.now()
        const c = await open(config.base + path)
        conns.push(c)
        if (!c.terminal && !c.closed) await new Promise<void>((resolve) => { c.onDone = resolve })
        const ms = performance.now() - t0
        c.req?.destroy()
        const markMs = c.markAt === 0 ? null : Math.round((c.markAt - t0) * 100) / 100
        replays.push({ ms: Math.round(ms * 100) / 100, markMs, events: c.events, lastSeq: c.lastSeq, terminal: c.terminal, status: c.terminalStatus })
        if (timedOut) return
      }
    }
    report()
    return
  }

  const urls: string[] = []
  const bases = config.bases ?? [config.base]
  for (let i = 0; i < config.subscribers; i++) for (const s of streams) urls.push(bases[i % bases.length] + s)
  const t0 = performance.now()
  let done = 0
  let wantAll: (() => void) | null = null
  // timedOut is set by a timer while the batches are awaited.
  for (let i = 0; i < urls.length && !timedOut; i += config.batch) { // eslint-disable-line no-unmodified-loop-condition
    const batch = await Promise.all(urls.slice(i, i + config.batch).map((url) => open(url, config.mode === 'terminal' && config.reconnect === true)))
    for (const c of batch) {
      conns.push(c)
      const onDone = (): void => {
        if (c.counted) return
        c.counted = true
        done++
        if (done === urls.length) wantAll?.()
      }
      c.onDone = onDone
      if (c.terminal || c.closed) onDone()
    }
  }
  connectMs = Math.round(performance.now() - t0)
  out({ event: 'connected', connections: conns.length, failed: conns.filter((c) => c.status !== 200).length, ms: connectMs })

  if (config.mode === 'hold') {
    await sleep(config.holdMs ?? 0)
    for (const c of conns) if (!c.closed && !c.terminal) c.heldToEnd = true
    report()
    return
  }
  if (done < urls.length) await new Promise<void>((resolve) => { wantAll = resolve })
  report()
}

main().catch((err: unknown) => {
  process.stderr.write(`load-client: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
