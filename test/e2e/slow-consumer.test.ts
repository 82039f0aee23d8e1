import { connect } from 'node:net'
import { createParser } from 'eventsource-parser'
import t from 'tap'
import { build, getJson, openStream, postJson, until } from '../helper.js'

t.test('a reader that stops reading is disconnected after the stall timeout and resumes without a gap', async (t) => {
  const ctx = await build(t, {
    listen: true,
    env: { STREAM_MAX_BUFFERED_BYTES: '65536', STREAM_STALL_TIMEOUT_MS: '2000', MAX_OUTPUT_BYTES: '200000000', STREAM_FLUSH_INTERVAL_MS: '5' }
  })
  const res = await postJson(`${ctx.url}/api/commands`, {
    // 600 lines of 20,000 bytes over at least 3 s: still running while the reader stalls.
    targets: ['a'], command: 'l=$(head -c 20000 /dev/zero | tr "\\0" x); for i in $(seq 1 60); do for j in 1 2 3 4 5 6 7 8 9 10; do echo "$l"; done; sleep 0.05; done', expertMode: true
  })
  const id = res.json.executionId as string
  const { port } = new URL(ctx.url)

  // A raw client that sends its request and then reads nothing.
  const socket = connect(Number(port), '127.0.0.1')
  socket.pause()
  let received = ''
  let closed = false
  socket.on('close', () => { closed = true })
  socket.write(`GET /api/executions/${id}/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`)
  await until(async () => (await getJson(`${ctx.url}/api/streaming/stats`)).json.subscribers === 1, 5000, 'the stream to open')
  // The server must give up on it instead of buffering the whole output; meanwhile what it
  // holds for the reader reaches the bound and never exceeds it: a live batch that would not
  // fit is not written, and the replay is sent piece by piece as room frees.
  let held = 0
  let samples = 0
  await until(async () => {
    const stats = (await getJson(`${ctx.url}/api/streaming/stats`)).json
    held = Math.max(held, stats.maxBufferedBytes)
    samples++
    return stats.subscribers === 0
  }, 30_000, 'the stalled reader to be dropped')
  const produced = (await getJson(`${ctx.url}/api/executions/${id}/events?after=0&limit=1000`)).json.events
    .filter((e: any) => e.type === 'stdout').reduce((n: number, e: any) => n + Buffer.byteLength(e.data.output), 0)
  t.ok(samples >= 20, `sampled ${samples} times while it stalled`)
  t.ok(held > 65536 / 2, `the reader's backlog came near the bound (${held} bytes held at most)`)
  t.ok(held <= 65536, `the server held at most ${held} bytes for it, within STREAM_MAX_BUFFERED_BYTES`)
  t.ok(produced > 4 * held, `while the execution produced more (${produced} bytes in the first 1,000 events)`)
  socket.on('data', (d: Buffer) => { received += d.toString('latin1') })
  socket.resume()
  await until(() => closed, 10_000, 'the socket to close')

  // Parse whatever arrived before the cut; a cut-off last frame is simply not an event.
  const ids: number[] = []
  const body = Buffer.from(received.slice(received.indexOf('\r\n\r\n') + 4), 'latin1').toString('utf8')
  // The body is chunked: strip the chunk-size lines the raw socket saw.
  const parser = createParser({ onEvent: (e) => { if (e.id !== undefined) ids.push(Number(e.id)) } })
  parser.feed(body.replace(/\r\n[0-9a-f]+\r\n/g, ''))
  t.ok(ids.length > 0, `got ${ids.length} events before the cut`)
  const last = ids[ids.length - 1]

  // The client keeps its cursor and resumes (again, should a burst outrun it too, as EventSource would).
  const rest: number[] = []
  let cursor = last
  let terminal = ''
  for (let attempt = 0; attempt < 20 && terminal === ''; attempt++) {
    const resumed = await openStream(`${ctx.url}/api/executions/${id}/stream`, { 'last-event-id': String(cursor) })
    if (resumed.status === 204) break
    await resumed.ended
    for (const e of resumed.events) {
      if (e.id === undefined) continue
      rest.push(Number(e.id))
      cursor = Number(e.id)
      if (e.event === 'complete' || e.event === 'error') terminal = e.event
    }
  }
  t.equal(rest[0], last + 1, 'resumes right after the last event it got')
  const all = [...ids, ...rest]
  t.same(all, Array.from({ length: all.length }, (_, i) => i + 1), 'no gap, no duplicate')
  t.equal(terminal, 'complete')
})

t.test('a reader that reads slowly but steadily is never cut, however long its backlog takes to empty', async (t) => {
  // A backlog of 12 MiB takes this reader (~1 MB/s at most) over 12 s to empty, more than the stall
  // timeout; yet the socket takes its bytes every few seconds (as the kernel's socket buffer frees
  // in steps of 1.5 to 2.5 MB here), so it is making progress. The stall timeout leaves room for a
  // loaded machine, where this reader runs slower and the steps come further apart.
  const ctx = await build(t, {
    listen: true,
    env: { STREAM_MAX_BUFFERED_BYTES: String(12 * 1024 * 1024), STREAM_STALL_TIMEOUT_MS: '8000', MAX_OUTPUT_BYTES: '200000000' }
  })
  const res = await postJson(`${ctx.url}/api/commands`, {
    targets: ['a'], command: 'l=$(head -c 20000 /dev/zero | tr "\\0" x); for i in $(seq 1 700); do echo "$l"; done', expertMode: true
  })
  const id = res.json.executionId as string
  const { port } = new URL(ctx.url)
  const socket = connect(Number(port), '127.0.0.1')
  socket.pause()
  socket.write(`GET /api/executions/${id}/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`)
  const chunks: Buffer[] = []
  let closed = false
  socket.on('close', () => { closed = true })

  // Small reads: one each time data is there ('readable'), at most 32 KiB per 32 ms.
  let held = 0
  const sampler = setInterval(() => {
    void getJson(`${ctx.url}/api/streaming/stats`).then((r) => { held = Math.max(held, r.json.maxBufferedBytes) }, () => {})
  }, 250)
  t.teardown(() => clearInterval(sampler))
  const started = performance.now()
  for (;;) {
    const chunk = socket.read(32 * 1024) as Buffer | null ?? socket.read() as Buffer | null
    if (chunk !== null) {
      chunks.push(chunk)
      if (chunk.subarray(-5).toString('latin1') === '0\r\n\r\n') break
      await new Promise((resolve) => setTimeout(resolve, 32))
      continue
    }
    if (closed) break
    await new Promise((resolve) => { socket.once('readable', resolve); socket.once('close', resolve) })
  }
  clearInterval(sampler)
  const seconds = (performance.now() - started) / 1000
  const text = Buffer.concat(chunks).toString('latin1')
  const body = text.slice(text.indexOf('\r\n\r\n') + 4).replace(/\r\n[0-9a-f]+\r\n/g, '')
  const ids: number[] = []
  let terminal = ''
  const parser = createParser({
    onEvent: (e) => {
      if (e.id !== undefined) ids.push(Number(e.id))
      if (e.event === 'complete' || e.event === 'error') terminal = e.event ?? ''
    }
  })
  parser.feed(Buffer.from(body, 'latin1').toString('utf8'))
  const bytes = chunks.reduce((n, c) => n + c.length, 0)
  t.ok(held > 8 * 1024 * 1024, `its backlog grew to ${held} bytes, more than it reads in the stall timeout`)
  t.equal(terminal, 'complete', `it read ${bytes} bytes in ${seconds.toFixed(1)} s to the end of the stream, not cut`)
  t.same(ids, Array.from({ length: ids.length }, (_, i) => i + 1), 'every event, in order')
  socket.destroy()
})
