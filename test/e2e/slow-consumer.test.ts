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
    targets: ['a'], command: 'for i in $(seq 1 2000); do head -c 20000 /dev/zero | tr "\\0" x; echo; sleep 0.002; done', expertMode: true
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
  // holds for the reader stays near the bound: one more write (a replay piece of 256 K
  // characters, or a live batch) may start below it.
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
  t.ok(held > 65536, `the reader's backlog reached the bound (${held} bytes held at most)`)
  t.ok(held <= 65536 + 512 * 1024, `the server held at most ${held} bytes for it, within the bound plus one write`)
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
