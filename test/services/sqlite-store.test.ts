import { statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { SqliteStore } from '../../services/sqlite-store.js'
import type { ExecutionEvent } from '../../services/types.js'
import { tempDir } from '../helper.js'

t.test('the WAL is checkpointed in the background while the store is open', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'h.db')
  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  await store.create({
    id: 'x', type: 'command', targets: ['a'], action: 'yes', status: 'running', startedAt: new Date().toISOString(),
    completedAt: null, expertMode: true, command: null, results: [], error: null, outputTruncated: false
  })
  const before = statSync(path).size
  const chunk = 'y\n'.repeat(50_000)
  const events: ExecutionEvent[] = Array.from({ length: 60 }, (_, i) => ({
    type: 'stdout', executionId: 'x', timestamp: new Date().toISOString(), seq: i + 1, data: { target: 'a', output: chunk }
  }))
  await store.appendEvents('x', events)
  t.ok(statSync(`${path}-wal`).size > 5_000_000, 'the events went to the WAL first')
  // This connection never checkpoints (wal_autocheckpoint = 0): growth of the main file is the worker's.
  const deadline = Date.now() + 10_000
  while (statSync(path).size < before + 5_000_000 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  t.ok(statSync(path).size >= before + 5_000_000, `the database file took the WAL's pages (${statSync(path).size} bytes)`)
  t.equal(await store.lastSeq('x'), 60)
})
