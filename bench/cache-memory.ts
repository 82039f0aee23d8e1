// Measures what SqliteStore's recent-log cache costs in heap per cached event, against the estimate
// it counts (cachedEventBytes), for the shapes the service logs. Run:
//   node --expose-gc --import tsx bench/cache-memory.ts
import { randomUUID } from 'node:crypto'
import type { ExecutionEvent } from '../schemas/index.js'
import { eventFrame } from '../services/streaming/sse-frames.js'
import { SqliteStore, cachedEventBytes } from '../services/store/sqlite-store.js'
import { makeRecord } from '../test/helper.js'

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')

const SHAPES: Record<string, (i: number) => unknown> = {
  'stdout, 40 ASCII characters': (i) => ({ target: 'web1', output: `line ${i} `.padEnd(40, 'x') + '\n' }),
  'stdout, 1,000 ASCII characters': (i) => ({ target: 'web1', output: `line ${i} `.padEnd(1000, 'x') + '\n' }),
  'stdout, 16,000 ASCII characters': (i) => ({ target: 'web1', output: `line ${i} `.padEnd(16_000, 'x') + '\n' }),
  'stdout, 1,000 characters, non-Latin-1': (i) => ({ target: 'web1', output: `ligne ${i} `.padEnd(1000, 'é€') + '\n' }),
  'stdout, 1,000 characters, escaped (quotes, tabs)': (i) => ({ target: 'web1', output: `"${i}"\t`.repeat(200) }),
  status: () => ({ status: 'running' }),
  'complete, 20 targets': () => ({
    status: 'success',
    outputTruncated: false,
    results: Array.from({ length: 20 }, (_, t) => ({ target: `web${t}`, status: 'success', exitCode: 0, stdout: 'ok\n', stderr: '' }))
  })
}

async function measure (name: string, data: (i: number) => unknown, count: number): Promise<void> {
  const store = new SqliteStore(':memory:', { cacheMaxBytes: 16 * 1024 * 1024 * 1024 })
  const ids = Array.from({ length: 10 }, () => randomUUID())
  for (const id of ids) await store.create(makeRecord(id, { targets: ['web1'], action: 'x', startedAt: new Date().toISOString() }))
  gc?.()
  const before = process.memoryUsage().heapUsed
  let estimate = 0
  let json = 0
  const per = count / ids.length
  for (const id of ids) {
    const events: ExecutionEvent[] = []
    for (let seq = 1; seq <= per; seq++) {
      const type = name.startsWith('complete') ? 'complete' : name === 'status' ? 'status' : 'stdout'
      events.push({ type, executionId: id, timestamp: new Date().toISOString(), seq, data: data(seq) })
    }
    await store.appendEvents(id, events)
    // Fan-out builds each frame once and keeps it with the event; writing it out flattens it
    // (a frame is built as a rope around the data's JSON), which is the costlier case.
    for (const event of events) {
      Buffer.from(eventFrame(event), 'utf8')
      estimate += cachedEventBytes(event)
      json += cachedEventBytes(event) - 1536
    }
  }
  gc?.()
  const heap = process.memoryUsage().heapUsed - before
  const L = json / 6 / count
  console.log(`${name.padEnd(48)} L=${L.toFixed(0).padStart(6)}  heap/event=${(heap / count).toFixed(0).padStart(7)}  ` +
    `(${((heap / count - 560) / L).toFixed(2)} L + 560)  estimate/event=${(estimate / count).toFixed(0).padStart(7)}  ` +
    `heap/estimate=${(heap / estimate).toFixed(2)}  cache=${store.memoryBytes}`)
  if (store.memoryBytes !== estimate) throw new Error('the cache does not count what it holds')
  await store.close()
}

for (const [name, data] of Object.entries(SHAPES)) {
  await measure(name, data, name.includes('16,000') ? 2000 : 20_000)
}
