// The Bolt stand-in against the real CLI: every captured case of OpenBolt 5.6.0
// (test/fixtures/captures, see its README) is run through the stand-in with the same argv, in a copy
// of the project the case ran in, and stdout, stderr and the exit status are compared with the
// capture. Only durations and the project's absolute path are normalised. Where the capture's order
// or cut points depend on timing, the comparison checks what does not (see `relaxed` and `reads`).
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { copyProject } from '../fixtures/projects.js'

const STAND_IN = fileURLToPath(new URL('../fixtures/bolt-stand-in.mjs', import.meta.url))
const CASES = fileURLToPath(new URL('../fixtures/captures/cases/', import.meta.url))
const CAPTURED_DIR = '/srv/bolt-project'

/** Cases whose results arrive in completion order (two targets): items compared as a multiset. */
const RELAXED = new Set(['c03-two-targets', 'c03b-two-nostream', 'c05c-mixed', 'c20-plain-task-out', 'c25-task-two', 'p14-pp-two-targets'])
/** Cases whose stream-line cut points depend on how the pipe was read: the 4096-byte read rule is checked. */
const READS = new Set(['c01-seq20000-stream', 'c02-100kb-line-stream'])
/** A case whose writes follow each other without pauses: exact when the reads come apart as captured, else checked by the rule. */
const READS_IF_MERGED = new Set(['c18-noeol-longline'])

interface Case { name: string, argv: string[], stdout: Buffer, stderr: Buffer, rc: number, early: boolean }

function loadCase (name: string): Case {
  const timeline = readFileSync(join(CASES, `${name}.timeline`), 'utf8')
  const argv = JSON.parse(timeline.slice(2, timeline.indexOf('\n'))) as string[]
  return {
    name,
    argv: argv.slice(1),
    stdout: readFileSync(join(CASES, `${name}.stdout`)),
    stderr: readFileSync(join(CASES, `${name}.stderr`)),
    rc: Number(readFileSync(join(CASES, `${name}.rc`), 'utf8')),
    // `(s)` cases: section 1 (c01…c29) and c10 ran with the project's earlier state.
    early: /^c\d/.test(name)
  }
}

/** A copy of the project the case ran in (the earlier state for the `(s)` cases, as the README gives it). */
function projectFor (c: Case, t: Test): string {
  const dir = realpathSync(copyProject('captured', mkdtempSync(join(tmpdir(), 'bolt-capture-'))))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  if (c.early) {
    rmSync(join(dir, 'modules/mymod/plans'), { recursive: true })
    unlinkSync(join(dir, 'modules/mymod/tasks/params.sh'))
    unlinkSync(join(dir, 'modules/mymod/tasks/params.json'))
    writeFileSync(join(dir, 'bolt-project.yaml'), '---\nname: realproj\n')
    writeFileSync(join(dir, 'inventory.yaml'), '---\ntargets:\n  - name: 127.0.0.1\n    config:\n      transport: local\n  - name: second\n    config:\n      transport: local\n')
  }
  return dir
}

interface Run { stdout: Buffer, stderr: Buffer, code: number | null, signal: NodeJS.Signals | null }

function standInEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, BOLT_DISABLE_ANALYTICS: '1', STANDIN_STARTUP_DELAY_MS: '0' }
  for (const k of Object.keys(env)) if (k.startsWith('STANDIN_') && k !== 'STANDIN_STARTUP_DELAY_MS') delete env[k]
  delete env.BOLT_INVENTORY
  // The test runner's loaders (coverage, process info) would make every Bolt start much slower.
  for (const k of Object.keys(env)) if (k === 'NODE_OPTIONS' || k === 'NODE_V8_COVERAGE' || k.startsWith('_TAPJS_')) delete env[k]
  return env
}

function runStandIn (argv: string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [STAND_IN, ...argv], { cwd, env: standInEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    child.once('error', reject)
    child.once('close', (code, signal) => resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), code, signal }))
  })
}

/** Bytes as a string one character per byte (invalid UTF-8 survives), durations and the project path normalised. */
function normalise (b: Buffer, dir: string): string {
  return b.toString('latin1')
    .split(dir).join(CAPTURED_DIR)
    .replace(/"elapsed_time": \d+/g, '"elapsed_time": N')
    .replace(/in \d+(\.\d+)? sec/g, 'in N sec')
    .replace(/\d+\.\d+ sec/g, 'N sec')
}

const STREAM_LINE = /^\[([^\]]+)\] (out|err): /
const lines = (s: string): string[] => s.split('\n').slice(0, -1)

/** Every target's stream lines, in order. */
function streamsByTarget (text: string): Map<string, string[]> {
  const m = new Map<string, string[]>()
  for (const l of lines(text)) {
    const s = STREAM_LINE.exec(l)
    if (s !== null) m.set(s[1], [...(m.get(s[1]) ?? []), l])
  }
  return m
}

/** Could the stream lines have come from reading `output` in reads of at most 4096 bytes, each read split after every "\n" (a read of only "\n" printing nothing)? */
function explainsReads (pieces: Buffer[], output: Buffer): boolean {
  const NL = 0x0a
  const seen = new Set<string>()
  const todo: Array<[number, number]> = [[0, 0]]
  while (todo.length > 0) {
    const [p, i] = todo.pop()!
    const key = `${p},${i}`
    if (seen.has(key)) continue
    seen.add(key)
    if (p === output.length && i === pieces.length) return true
    if (output[p] === NL) todo.push([p + 1, i]) // a read of only "\n"
    // A read starting at p: lines i, i+1, ... each followed by its "\n" but maybe the last.
    for (let j = i, q = p; j < pieces.length; j++) {
      const line = pieces[j]
      if (!output.subarray(q, q + line.length).equals(line)) break
      const end = q + line.length
      if (end - p > 4096) break
      if (line.length > 0) todo.push([end, j + 1]) // the read ends inside the line
      if (output[end] !== NL || end + 1 - p > 4096) break
      if (!(j === i && line.length === 0)) todo.push([end + 1, j + 1]) // the read ends after the line's "\n"
      // Reading on only matters for an empty line, which a read of its own would not print.
      if (!(j === i && line.length === 0) && pieces[j + 1]?.length !== 0) break
      q = end + 1
    }
  }
  return false
}

/** The stream lines of one target and kind as raw bytes (without prefix). */
function pieces (stdout: Buffer, target: string, kind: string): Buffer[] {
  const prefix = Buffer.from(`[${target}] ${kind}: `)
  const result: Buffer[] = []
  let start = 0
  while (start < stdout.length) {
    let end = stdout.indexOf(0x0a, start)
    if (end < 0) end = stdout.length
    const line = stdout.subarray(start, end)
    if (line.subarray(0, prefix.length).equals(prefix)) result.push(line.subarray(prefix.length))
    start = end + 1
  }
  return result
}

function checkReads (t: Test, run: Run, c: Case, dir: string): void {
  const got = normalise(run.stdout, dir)
  const want = normalise(c.stdout, dir)
  t.same(lines(got).filter((l) => !STREAM_LINE.test(l)), lines(want).filter((l) => !STREAM_LINE.test(l)), 'the document without stream lines is as captured')
  const results = lines(run.stdout.toString('utf8')).filter((l) => l.startsWith('{"target":')).map((l) => JSON.parse(l))
  for (const r of results) {
    for (const [kind, field] of [['out', 'stdout'], ['err', 'stderr']]) {
      const mine = pieces(run.stdout, r.target, kind)
      t.ok(mine.every((p) => p.length <= 4096), `${r.target} ${kind}: no stream line over 4096 bytes`)
      t.ok(explainsReads(mine, Buffer.from(r.value[field])), `${r.target} ${kind}: the stream lines are the output cut by 4096-byte reads`)
    }
  }
}

function checkRelaxed (t: Test, got: string, want: string): void {
  const skeleton = (s: string): string[] => lines(s).filter((l) => !STREAM_LINE.test(l)).map((l) => (l.startsWith('{"target":') ? '<item>' : l))
  const items = (s: string): string[] => lines(s).filter((l) => l.startsWith('{"target":')).sort()
  t.same(skeleton(got), skeleton(want), 'document lines in order (items as placeholders)')
  t.same(items(got), items(want), 'the same result items')
  t.same(streamsByTarget(got), streamsByTarget(want), "each target's stream lines, in order")
  // Each target's stream lines come before its result line.
  const seenResult = new Set<string>()
  for (const l of lines(got)) {
    const s = STREAM_LINE.exec(l)
    if (s !== null) t.notOk(seenResult.has(s[1]), `${s[1]}: stream line before its result: ${l.slice(0, 60)}`)
    else if (l.startsWith('{"target":')) seenResult.add(JSON.parse(l).target)
  }
}

// ---------------------------------------------------------------------------------------------

const names = readdirSync(CASES).filter((f) => f.endsWith('.rc')).map((f) => f.slice(0, -3)).sort()

// Run every case up front, a few at a time (most of them sleep), then check them in order.
const POOL = 12
const queue = names.map(loadCase)
const pending = new Map<string, { resolve: (v: { run: Run, dir: string }) => void, promise: Promise<{ run: Run, dir: string }> }>()
for (const c of queue) {
  let resolve!: (v: { run: Run, dir: string }) => void
  const promise = new Promise<{ run: Run, dir: string }>((_resolve) => { resolve = _resolve })
  pending.set(c.name, { resolve, promise })
}

t.test('every captured case', async (t) => {
  t.ok(names.length >= 70, `${names.length} cases`)
  const work = [...queue]
  const worker = async (): Promise<void> => {
    for (let c = work.shift(); c !== undefined; c = work.shift()) {
      const dir = projectFor(c, t)
      const run = await runStandIn(c.argv.map((a) => a.split(CAPTURED_DIR).join(dir)), dir)
      pending.get(c.name)!.resolve({ run, dir })
    }
  }
  const workers = Promise.all(Array.from({ length: POOL }, worker))
  for (const c of queue) {
    await t.test(c.name, async (t) => {
      const { run, dir } = await pending.get(c.name)!.promise
      t.equal(run.signal, null, 'not killed')
      t.equal(run.code, c.rc, `exit status ${c.rc}`)
      t.equal(normalise(run.stderr, dir), normalise(c.stderr, dir), 'stderr')
      const got = normalise(run.stdout, dir)
      const want = normalise(c.stdout, dir)
      if (RELAXED.has(c.name)) checkRelaxed(t, got, want)
      else if (READS.has(c.name)) checkReads(t, run, c, dir)
      else if (READS_IF_MERGED.has(c.name) && got !== want) {
        t.comment('the writes were read together this time: checking the read rule instead of the captured cuts')
        checkReads(t, run, c, dir)
      } else t.equal(got, want, 'stdout')
    })
  }
  await workers
})

t.test('the read-rule check itself', async (t) => {
  for (const name of READS) {
    const c = loadCase(name)
    const result = JSON.parse(lines(c.stdout.toString('utf8')).find((l) => l.startsWith('{"target":'))!)
    t.ok(explainsReads(pieces(c.stdout, 'localhost', 'out'), Buffer.from(result.value.stdout)), `${name}: the capture obeys it`)
  }
  const b = (s: string): Buffer => Buffer.from(s)
  t.ok(explainsReads([b('a'), b('b'), b(''), b(''), b('c'), b('d'), b('')], b('a\n\nb\n\n\nc\nd\n\n')), 'c21: a lone "\\n" read is dropped')
  t.notOk(explainsReads([b('a'), b(''), b('b')], b('a\nb\n').subarray(0, 0)), 'lines need output')
  t.notOk(explainsReads([b('x'.repeat(4097))], b('x'.repeat(4097))), 'no line of 4097 bytes')
  t.notOk(explainsReads([b('a'), b('c')], b('a\nb\nc\n')), 'no output left out')
  t.notOk(explainsReads([b(''), b('a')], b('\n')), 'no line made up')
})

// ---------------------------------------------------------------------------------------------
// Signals (c27): Bolt, the leader of its own process group, gets the signal on its pid only.

/** The processes of a process group: pid and command line. */
function groupMembers (pgid: number): Array<{ pid: number, args: string[] }> {
  const members: Array<{ pid: number, args: string[] }> = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2])
      if (pgrp !== pgid) continue
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter((a) => a.length > 0)
      members.push({ pid: Number(entry), args })
    } catch { /* the process is gone */ }
  }
  return members
}

/** The OUT chunks a c27 timeline shows before Bolt exited. */
function timelineOut (name: string): { stdout: string, stderr: string } {
  const text = readFileSync(join(CASES, `${name}.timeline`), 'utf8')
  let stdout = ''
  let stderr = ''
  for (const line of text.split('\n')) {
    const m = /^\+\s*\d+ms (OUT|ERR) (".*")$/.exec(line)
    if (m === null) continue
    if (m[1] === 'OUT') stdout += JSON.parse(m[2])
    else stderr += JSON.parse(m[2])
  }
  return { stdout, stderr }
}

for (const [signal, name] of [['SIGTERM', 'c27-SIGTERM'], ['SIGINT', 'c27-SIGINT']] as const) {
  t.test(`${name}: ${signal} to Bolt's pid ends Bolt; its command lives on in the group`, async (t) => {
    const dir = realpathSync(copyProject('captured', mkdtempSync(join(tmpdir(), 'bolt-capture-'))))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const argv = ['command', 'run', 'echo start; sleep 15; echo end', '--targets', 'localhost', '--format', 'json', '--stream', '--no-color', '--no-save-rerun']
    const child = spawn(process.execPath, [STAND_IN, ...argv], { cwd: dir, env: standInEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    const pgid = child.pid!
    t.teardown(() => { try { process.kill(-pgid, 'SIGKILL') } catch { /* already gone */ } })
    let stdout = ''
    let stderr = ''
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (code, sig) => resolve([code, sig])))
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (b: Buffer) => {
        stdout += b.toString()
        if (stdout.includes('[localhost] out: start\n')) resolve()
      })
    })
    const before = stdout
    process.kill(pgid, signal)
    const [code, sig] = await exited
    if (signal === 'SIGTERM') t.same([code, sig], [null, 'SIGTERM'], 'died by the signal')
    else t.same([code, sig], [1, null], 'exit status 1')
    t.equal(stdout, before, 'nothing printed after the signal')
    const captured = timelineOut(name)
    t.equal(stdout, captured.stdout, 'stdout as captured: the document left open')
    t.equal(stderr, captured.stderr, 'stderr as captured')
    const left = groupMembers(pgid)
    t.ok(left.some((p) => p.args[0] === 'sh' && p.args[1] === '-c' && p.args[2] === 'echo start; sleep 15; echo end'), `sh -c is still running in the group: ${JSON.stringify(left)}`)
    t.ok(left.some((p) => p.args[0] === 'sleep' && p.args[1] === '15'), 'sleep 15 is still running in the group')
    process.kill(-pgid, 'SIGKILL')
  })
}

t.test('version and the version knobs', async (t) => {
  const dir = tmpdir()
  const run = await runStandIn(['--version'], dir)
  t.equal(run.stdout.toString(), readFileSync(join(CASES, 'v01-version.stdout'), 'utf8'))
  const env = { ...standInEnv(), STANDIN_VERSION: '4.0.0' }
  const other = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, [STAND_IN, '--version'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    child.stdout.on('data', (b: Buffer) => { out += b.toString() })
    child.once('close', () => resolve(out))
  })
  t.equal(other, '4.0.0\n', 'STANDIN_VERSION')
})
