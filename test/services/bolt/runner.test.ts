import { pino } from 'pino'
import { spawn } from 'node:child_process'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { buildBoltInvocation, type OperationSpec } from '../../../services/bolt/arguments.js'
import { BoltRunner, type RunRequest } from '../../../services/bolt/runner.js'
import { groupHasLiveProcess } from '../../../services/bolt/process-group.js'
import { boltEnvironment } from '../../../services/config/bolt-environment.js'
import { ROOT, STAND_IN, tempDir } from '../../helper.js'

const LONE_RUNNER = join(ROOT, 'test/fixtures/lone-runner.ts')

const quiet = pino({ level: 'silent' })

interface Collected { stdout: Map<string | null, string>, stderr: Map<string | null, string>, truncated: string[] }

function collector (): Collected & { callbacks: RunRequest['callbacks'] } {
  const c: Collected = { stdout: new Map(), stderr: new Map(), truncated: [] }
  return {
    ...c,
    callbacks: {
      onStdout: (chunk, target) => c.stdout.set(target, (c.stdout.get(target) ?? '') + chunk),
      onStderr: (chunk, target) => c.stderr.set(target, (c.stderr.get(target) ?? '') + chunk),
      onTruncated: (message) => c.truncated.push(message)
    }
  }
}

function runner (boltPath = STAND_IN, env: Record<string, string> = {}, killGraceMs = 500): BoltRunner {
  return new BoltRunner({ boltPath, env: { ...boltEnvironment(process.env), ...env }, killGraceMs, logger: quiet })
}

const invocation = (spec: OperationSpec, dir: string) =>
  buildBoltInvocation(spec, { projectDir: dir, puppetAgentCommand: 'puppet agent --test --color=false', puppetRunAs: null })

t.test('a character split between two reads of the pipe survives', async (t) => {
  const dir = tempDir(t)
  const fake = join(dir, 'split-bolt.sh')
  // 'é' (c3 a9) and '€' (e2 82 ac) are cut across writes with pauses, so they arrive in separate reads.
  writeFileSync(fake, [
    '#!/bin/sh',
    "printf '{ \"items\": [\\n[a] out: caf\\303'",
    'sleep 0.2',
    "printf '\\251 \\342\\202'",
    'sleep 0.2',
    "printf '\\254\\n'",
    "printf '%s\\n' '{\"target\":\"a\",\"action\":\"command\",\"object\":\"x\",\"status\":\"success\",\"value\":{\"stdout\":\"caf\\u00e9 \\u20ac\\n\",\"stderr\":\"\",\"merged_output\":\"\",\"exit_code\":0}}'",
    "printf '],\\n\"target_count\": 1, \"elapsed_time\": 0 }\\n'"
  ].join('\n') + '\n')
  chmodSync(fake, 0o755)
  const c = collector()
  const outcome = await runner(fake).run({
    invocation: invocation({ type: 'command', targets: ['a'], command: 'x' }, dir), timeoutMs: 10_000, maxOutputBytes: 1e6, callbacks: c.callbacks
  })
  t.equal(c.stdout.get('a'), 'café €\n')
  t.equal(outcome.end, 'exited')
  t.equal(outcome.document.error, null)
  t.equal(outcome.document.results[0].stdout, 'café €\n')
})

t.test('timeout: the process group gets SIGTERM and the run ends timed_out', async (t) => {
  const dir = tempDir(t)
  let pgid = 0
  const started = Date.now()
  const outcome = await runner().run({
    invocation: invocation({ type: 'command', targets: ['a'], command: 'echo started; sleep 30' }, dir),
    timeoutMs: 700,
    maxOutputBytes: 1e6,
    onSpawn: (id) => { pgid = id }
  })
  const took = Date.now() - started
  t.equal(outcome.end, 'timed_out')
  t.match(outcome.cancelReason, /Timed out after 700 ms/)
  t.ok(took >= 650 && took < 5000, `ended after ${took} ms`)
  t.equal(outcome.signal, 'SIGTERM')
  t.notOk(await groupHasLiveProcess(pgid), 'nothing of the group is left (the sleep included)')
})

t.test('a group that ignores SIGTERM is killed with SIGKILL after the grace period', async (t) => {
  const dir = tempDir(t)
  let pgid = 0
  const controller = new AbortController()
  let printed = (): void => {}
  const ready = new Promise<void>((resolve) => { printed = resolve })
  const promise = runner(STAND_IN, { STANDIN_IGNORE_SIGTERM: '1' }, 800).run({
    invocation: invocation({ type: 'command', targets: ['a', 'b'], command: 'echo started; sleep 30' }, dir),
    timeoutMs: 60_000,
    maxOutputBytes: 1e6,
    signal: controller.signal,
    onSpawn: (id) => { pgid = id },
    // Output means Bolt and its shells have set their SIGTERM traps; a slow start must not beat them.
    callbacks: { onStdout: () => printed() }
  })
  await ready
  const cancelledAt = Date.now()
  controller.abort('Cancelled by test')
  const outcome = await promise
  const took = Date.now() - cancelledAt
  t.equal(outcome.end, 'cancelled')
  t.equal(outcome.cancelReason, 'Cancelled by test')
  t.equal(outcome.signal, 'SIGKILL')
  t.ok(took >= 790, `SIGKILL came after the 800 ms grace period (${took} ms)`)
  t.notOk(await groupHasLiveProcess(pgid), 'no process of the group survives')
})

t.test('a missing binary fails with a clear error', async (t) => {
  const dir = tempDir(t)
  const outcome = await runner('/nonexistent/bolt').run({
    invocation: invocation({ type: 'command', targets: ['a'], command: 'true' }, dir), timeoutMs: 5000, maxOutputBytes: 1e6
  })
  t.equal(outcome.end, 'spawn-failed')
  t.equal(outcome.spawnError?.kind, 'bolt-stream/bolt-not-found')
  t.match(outcome.spawnError?.message, /\/nonexistent\/bolt/)
})

t.test('output beyond the limit is cut at the limit, once, and the run goes on', async (t) => {
  const dir = tempDir(t)
  const c = collector()
  const outcome = await runner().run({
    invocation: invocation({ type: 'command', targets: ['a'], command: 'yes 0123456789 | head -c 3000000; echo done-marker >&2' }, dir),
    timeoutMs: 30_000,
    maxOutputBytes: 100_000,
    callbacks: c.callbacks
  })
  const streamed = [...c.stdout.values(), ...c.stderr.values()].join('')
  t.equal(Buffer.byteLength(streamed), 100_000, 'exactly the limit was streamed')
  t.equal(c.truncated.length, 1, 'one marker')
  t.match(c.truncated[0], /100000 bytes/)
  t.notOk(streamed.includes('done-marker'), 'nothing after the limit')
  t.ok(outcome.outputTruncated)
  t.equal(outcome.end, 'exited')
  t.equal(outcome.document.results[0].status, 'success', 'the run itself completed')
  t.ok(Buffer.byteLength(outcome.document.results[0].stdout ?? '') <= 100_000, 'results are cut too')
})

t.test('the cut never splits a multi-byte character', async (t) => {
  const dir = tempDir(t)
  const c = collector()
  await runner().run({
    invocation: invocation({ type: 'command', targets: ['a'], command: "s=''; for i in $(seq 1 1000); do s=\"$s€\"; done; printf '%s\\n' \"$s\"" }, dir),
    timeoutMs: 30_000,
    maxOutputBytes: 1024 + 100,
    callbacks: c.callbacks
  })
  const streamed = c.stdout.get('a') ?? ''
  t.notOk(streamed.includes('\ufffd'))
  t.equal(Buffer.byteLength(streamed), 1122, 'the largest whole number of 3-byte characters within 1124 bytes')
  t.equal(c.truncated.length, 1)
})

t.test("Bolt's own stderr: ANSI stripped, target null, the --stream warning not reported", async (t) => {
  const dir = tempDir(t)
  const c = collector()
  await runner(STAND_IN, { STANDIN_WARN: '1' }).run({
    invocation: invocation({ type: 'command', targets: ['a'], command: 'true' }, dir), timeoutMs: 10_000, maxOutputBytes: 1e6, callbacks: c.callbacks
  })
  t.equal(c.stderr.get(null), 'Warning: something odd\n')
})

t.test('Bolt sees only the allowlisted environment', async (t) => {
  const dir = tempDir(t)
  const log = join(dir, 'spawns.jsonl')
  process.env.SERVICE_SECRET_TOKEN = 'hunter2'
  t.teardown(() => { delete process.env.SERVICE_SECRET_TOKEN })
  const env = boltEnvironment({ ...process.env, STANDIN_LOG: log }, ['STANDIN_LOG'])
  await new BoltRunner({ boltPath: STAND_IN, env, killGraceMs: 500, logger: quiet }).run({
    invocation: invocation({ type: 'command', targets: ['a'], command: 'true' }, dir), timeoutMs: 10_000, maxOutputBytes: 1e6
  })
  const seen = JSON.parse(readFileSync(log, 'utf8').trim()) as { env: string[], argv: string[] }
  t.notOk(seen.env.includes('SERVICE_SECRET_TOKEN'))
  t.ok(seen.env.includes('BOLT_DISABLE_ANALYTICS'))
  t.ok(seen.env.includes('PATH'))
  t.same(seen.argv.slice(-2), ['--', 'true'])
})

t.test('version: a bare version is accepted; anything else is not Bolt', async (t) => {
  const dir = tempDir(t)
  t.equal(await runner().version(), '5.6.0')
  const other = join(dir, 'other-bolt.sh')
  writeFileSync(other, '#!/bin/sh\necho "bolt 0.9 (thunderbolt daemon)"\n')
  chmodSync(other, 0o755)
  await t.rejects(runner(other).version(), /does not look like Puppet Bolt/)
  await t.rejects(runner('/nonexistent/bolt').version(), /not found/)
})

t.test('version: Bolt 3.2 and later (OpenBolt 5.x) have --stream; older ones are refused by name', async (t) => {
  for (const version of ['3.2.0', '3.30.0', '4.0.0', '5.6.0', '5.0.0-rc.1']) {
    t.equal(await runner(STAND_IN, { STANDIN_VERSION: version }).version(), version, `${version} accepted`)
  }
  for (const version of ['3.1.0', '2.44.0', '1.0.0', '0.9.9']) {
    await t.rejects(runner(STAND_IN, { STANDIN_VERSION: version }).version(), new RegExp(`Bolt ${version.replace(/\./g, '\\.')} is too old.*--stream.*3\\.2`), `${version} refused`)
  }
})

t.test('a cancelled run follows up with SIGKILL even when nothing else keeps the process alive', async (t) => {
  const dir = tempDir(t)
  // Bolt dies of SIGTERM, but what it started ignores it and lives on in the group.
  const child = spawn(process.execPath, ['--import', 'tsx', LONE_RUNNER, STAND_IN, dir, "trap '' TERM; echo ready; sleep 5"], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)))
  const line = stdout.trim().split('\n').pop() ?? ''
  t.equal(code, 0, `the process waited for the run to end (exit ${code}; ${stderr.slice(0, 300)})`)
  const result = JSON.parse(line.startsWith('{') ? line : '{}') as { end?: string, pgid?: number }
  t.equal(result.end, 'cancelled')
  t.ok(result.pgid !== undefined && !await groupHasLiveProcess(result.pgid), 'nothing of the group is left')
})
