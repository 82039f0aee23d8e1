import { pino } from 'pino'
import type { Logger } from '../../../services/logger.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { groupHasLiveProcess, processIdentity, signalGroup } from '../../../services/bolt/process-group.js'
import { INTERRUPTED_ERROR, reconcileInterrupted } from '../../../services/executions/reconcile.js'
import { SqliteStore } from '../../../services/store/sqlite-store.js'
import type { ExecutionEvent, ExecutionRecord } from '../../../schemas/index.js'
import { tempDir, until, makeRecord } from '../../helper.js'

// Start-up reconciliation against a real SQLite file and real, detached process groups.

const record = (id: string, overrides: Partial<ExecutionRecord> = {}): ExecutionRecord => makeRecord(id, {
  targets: ['a'],
  action: 'sleep 30',
  startedAt: new Date().toISOString(),
  expertMode: true,
  command: 'bolt command run "sleep 30" --targets=a',
  ...overrides
})

interface Teardown { teardown: (fn: () => unknown) => void }

function event (executionId: string, seq: number): ExecutionEvent {
  return { type: 'stdout', executionId, timestamp: new Date().toISOString(), seq, data: { target: 'a', output: `line ${seq}\n` } }
}

interface Group {
  child: ChildProcess
  pgid: number
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/** A detached process group whose members all ignore SIGTERM; SIGKILLed at teardown if still there. */
async function spawnGroup (t: Teardown): Promise<Group> {
  const child = spawn('/bin/sh', ['-c', 'trap "" TERM; sleep 30 & echo ready; sleep 30'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  if (child.pid === undefined) throw new Error('spawn failed')
  const pgid = child.pid
  t.teardown(() => { signalGroup(pgid, 'SIGKILL') })
  // The trap is set before "ready" (a slow start must not get SIGTERM first); the sleeps inherit it.
  let out = ''
  child.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString() })
  await until(() => out.includes('ready'), 5000, `group ${pgid} to set its trap`)
  child.stdout?.destroy()
  return { child, pgid, exited }
}

/** A real pino logger whose warnings the test reads back. */
const logger = (): Logger & { calls: Array<{ obj: Record<string, unknown>, msg?: string }> } => {
  const calls: Array<{ obj: Record<string, unknown>, msg?: string }> = []
  const log = pino({ level: 'warn' }, { write: (line: string) => { const { msg, ...obj } = JSON.parse(line); calls.push({ obj, msg }) } })
  return Object.assign(log, { calls })
}

t.test('running executions become interrupted; their process groups are ended', async (t) => {
  const store = new SqliteStore(join(tempDir(t), 'history.db'))
  t.teardown(() => store.close())
  const identity = processIdentity()
  t.not(identity.bootId, '', 'this system exposes a boot id (the reconciler needs it to signal groups)')

  await store.create(record('with-group'))
  await store.appendEvents('with-group', [event('with-group', 1), event('with-group', 2), event('with-group', 3)])
  const group = await spawnGroup(t)
  await store.setProcessGroup('with-group', { pgid: group.pgid, ...identity })

  await store.create(record('no-group', { targets: ['b'] }))
  const finished = record('finished', {
    status: 'success', completedAt: new Date().toISOString(), results: [{ target: 'a', status: 'success', exitCode: 0, stdout: 'ok\n' }]
  })
  await store.create(finished)
  const finishedEvents = [event('finished', 1), event('finished', 2)]
  await store.appendEvents('finished', finishedEvents)

  const log = logger()
  const before = Date.now()
  const count = await reconcileInterrupted(store, { killGraceMs: 500, logger: log })
  const took = Date.now() - before
  t.equal(count, 2, 'two executions reconciled')
  t.ok(took >= 450, `the grace period was waited for a group that ignores SIGTERM (${took} ms)`)

  for (const id of ['with-group', 'no-group']) {
    const r = await store.get(id)
    t.equal(r?.status, 'interrupted', `${id}: interrupted`)
    t.type(r?.completedAt, 'string', `${id}: completedAt set`)
    t.ok(r?.completedAt !== null && r?.completedAt !== undefined && Date.parse(r.completedAt) >= before - 1000, `${id}: completedAt is now`)
    t.equal(r?.error?.kind, 'bolt-stream/interrupted', `${id}: error kind`)
    t.strictSame(r?.error, INTERRUPTED_ERROR, `${id}: the interrupted error`)
  }
  t.equal((await store.get('no-group'))?.targets[0], 'b', 'other fields kept')

  const withGroup = await store.readEvents('with-group', 0, 100)
  t.strictSame(withGroup.map((e) => e.seq), [1, 2, 3, 4, 5], 'the log continues at 4, 5')
  t.strictSame(withGroup.map((e) => e.type), ['stdout', 'stdout', 'stdout', 'status', 'error'], 'a status then an error event')
  t.strictSame(withGroup[3].data, { status: 'interrupted' }, 'status event data')
  t.match(withGroup[4].data, { status: 'interrupted', error: { kind: 'bolt-stream/interrupted' } }, 'error event data')
  t.equal(withGroup[3].executionId, 'with-group')
  t.equal(await store.lastSeq('with-group'), 5)

  const noGroup = await store.readEvents('no-group', 0, 100)
  t.strictSame(noGroup.map((e) => [e.seq, e.type]), [[1, 'status'], [2, 'error']], 'a log without events starts at 1')
  t.strictSame(noGroup[0].data, { status: 'interrupted' })

  t.strictSame(await store.get('finished'), finished, 'the finished execution is untouched')
  t.strictSame(await store.readEvents('finished', 0, 100), finishedEvents, 'and so is its log')
  t.strictSame(await store.listUnfinished(), [], 'nothing left unfinished')

  // The group ignored SIGTERM, so it took SIGKILL.
  await until(async () => !(await groupHasLiveProcess(group.pgid)), 1000, 'the group to be gone')
  t.equal(await groupHasLiveProcess(group.pgid), false, 'no live process left in the group')
  const exit = await Promise.race([group.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 2000))])
  t.equal(exit?.signal, 'SIGKILL', 'the shell died of SIGKILL')
  t.ok(log.calls.some((c) => (c.obj as { pgid?: number }).pgid === group.pgid && (c.obj as { outcome?: string }).outcome === 'killed'),
    'the kill is logged with the pgid and outcome killed')

  t.equal(await reconcileInterrupted(store, { killGraceMs: 500, logger: logger() }), 0, 'a second pass finds nothing')
  t.equal(await store.lastSeq('with-group'), 5, 'and appends nothing')
})

t.test('a process group recorded under another boot is not signalled', async (t) => {
  const store = new SqliteStore(join(tempDir(t), 'history.db'))
  t.teardown(() => store.close())
  const identity = processIdentity()

  const group = await spawnGroup(t)
  await store.create(record('other-boot'))
  await store.setProcessGroup('other-boot', { pgid: group.pgid, bootId: 'other-boot', pidNamespace: identity.pidNamespace })
  const otherNs = await spawnGroup(t)
  await store.create(record('other-ns'))
  await store.setProcessGroup('other-ns', { pgid: otherNs.pgid, bootId: identity.bootId, pidNamespace: 'pid:[1]' })

  let exited = false
  void group.exited.then(() => { exited = true })
  const count = await reconcileInterrupted(store, { killGraceMs: 500, logger: logger() })
  t.equal(count, 2)
  t.equal((await store.get('other-boot'))?.status, 'interrupted', 'the execution is still marked interrupted')
  t.equal((await store.get('other-ns'))?.status, 'interrupted')
  // Give a stray SIGKILL time to land before looking.
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(await groupHasLiveProcess(group.pgid), true, 'the group of another boot is still alive')
  t.equal(exited, false, 'its shell did not exit')
  t.equal(await groupHasLiveProcess(otherNs.pgid), true, 'the group of another PID namespace is still alive')
  t.equal((await store.listUnfinished()).length, 0)

  process.kill(-group.pgid, 'SIGKILL')
  process.kill(-otherNs.pgid, 'SIGKILL')
  t.equal((await group.exited).signal, 'SIGKILL', 'we ended it ourselves')
})
