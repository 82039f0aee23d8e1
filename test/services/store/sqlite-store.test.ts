import { statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { SqliteStore } from '../../../services/store/sqlite-store.js'
import { eventFrame } from '../../../services/streaming/sse-frames.js'
import type { ExecutionEvent } from '../../../schemas/index.js'
import { makeRecord, tempDir } from '../../helper.js'

t.test('the WAL is checkpointed in the background while the store is open', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'h.db')
  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  await store.create(makeRecord('x', { action: 'yes', startedAt: new Date().toISOString(), expertMode: true }))
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

t.test('a database of schema version 1 is migrated in place: old records read with requestedBy, request and rerunOf null', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'old.db')
  // The version-1 layout, as the first release wrote it.
  const old = new Database(path)
  old.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta VALUES ('schema_version', '1');
    CREATE TABLE executions (position INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
      targets TEXT NOT NULL, action TEXT NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL, completed_at TEXT,
      expert_mode INTEGER NOT NULL, command TEXT, results TEXT NOT NULL, error TEXT, output_truncated INTEGER NOT NULL, process_group TEXT);
    CREATE TABLE events (execution_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, timestamp TEXT NOT NULL,
      data TEXT NOT NULL, PRIMARY KEY (execution_id, seq)) WITHOUT ROWID;
    INSERT INTO executions (id, type, targets, action, status, started_at, completed_at, expert_mode, command, results, error, output_truncated)
      VALUES ('old', 'command', '["a"]', 'uptime', 'success', '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:01.000Z', 0, NULL, '[]', NULL, 0);`)
  old.close()

  const store = new SqliteStore(path)
  t.teardown(() => store.close())
  const oldRecord = await store.get('old')
  t.equal(oldRecord?.requestedBy, null, 'an old record has no requester')
  t.equal(oldRecord?.request, null, 'nor a stored request (it cannot be re-run)')
  t.equal(oldRecord?.rerunOf, null)
  const request = { task: 'demo::echo', params: { message: 'hi' }, redacted: false }
  await store.create(makeRecord('new', { startedAt: new Date().toISOString(), requestedBy: 'ci-bot', request, rerunOf: 'old' }))
  const created = await store.get('new')
  t.equal(created?.requestedBy, 'ci-bot')
  t.same(created?.request, request)
  t.equal(created?.rerunOf, 'old')
  t.same((await store.list({ rerunOf: 'old', limit: 10 })).executions.map((r) => r.id), ['new'], 'the rerunOf filter works on a migrated database')
  await store.close()
  const check = new Database(path, { readonly: true })
  t.equal((check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value, '4')
  check.close()
})

t.test('a database of a newer schema than this service knows is refused, naming the path', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'future.db')
  const future = new Database(path)
  future.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('schema_version', '99')")
  future.close()
  t.throws(() => new SqliteStore(path), /DATABASE_PATH .*future\.db.* schema version 99 is newer/)
})

t.test('the recent-log cache never holds more than its setting, in heap bytes, and says how much it holds', async (t) => {
  const { setFlagsFromString } = await import('node:v8')
  const { runInNewContext } = await import('node:vm')
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const max = 16 * 1024 * 1024
  const store = new SqliteStore(':memory:', { cacheMaxBytes: max })
  t.teardown(() => store.close())
  gc()
  const before = process.memoryUsage().heapUsed
  // The costliest text: beyond Latin-1, so V8 keeps every copy at 2 bytes a character. Five times
  // the setting goes through; each execution's log is small enough to be cached.
  const output = 'é€ line\n'.repeat(200)
  let appended = 0
  let held = 0
  for (let e = 0; appended < 5 * max; e++) {
    const id = `x${e}`
    await store.create(makeRecord(id, { action: 'yes', startedAt: new Date().toISOString(), expertMode: true }))
    const events: ExecutionEvent[] = Array.from({ length: 100 }, (_, i) => ({
      type: 'stdout', executionId: id, timestamp: new Date().toISOString(), seq: i + 1, data: { target: 'a', output }
    }))
    await store.appendEvents(id, events)
    // As the fan-out does: each frame is built once, kept with its event, and written out.
    for (const event of events) Buffer.from(eventFrame(event), 'utf8')
    appended += events.length * output.length * 2
    held = Math.max(held, store.memoryBytes)
  }
  gc()
  const heap = process.memoryUsage().heapUsed - before
  t.ok(held <= max, `within the setting after every append (${held} bytes at most)`)
  t.ok(held > max * 0.9, `it filled up to its setting (${held} of ${max} bytes)`)
  t.ok(heap <= max, `the heap grew by ${heap} bytes, no more than the setting (${max})`)
  const first = await store.readEvents('x0', 0, 1000)
  t.equal(first.length, 100, 'an evicted log is read from disk, whole')
  t.equal((first[99].data as { output: string }).output, output)
})

t.test('with a cache of 0 bytes nothing is cached and everything is read from disk', async (t) => {
  const store = new SqliteStore(':memory:', { cacheMaxBytes: 0 })
  t.teardown(() => store.close())
  await store.create(makeRecord('z', { action: 'yes', startedAt: new Date().toISOString(), expertMode: true }))
  await store.appendEvents('z', [{ type: 'stdout', executionId: 'z', timestamp: new Date().toISOString(), seq: 1, data: { target: 'a', output: 'hi\n' } }])
  t.equal(store.memoryBytes, 0)
  t.same((await store.readEvents('z', 0, 10)).map((e) => e.seq), [1])
})
