import { statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { SqliteStore } from '../../../services/store/sqlite-store.js'
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
  t.equal((check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value, '3')
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
