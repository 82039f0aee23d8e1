import { readFileSync } from 'node:fs'
import t from 'tap'
import {
  BoltDocumentParser, BoltStdoutDemux, toTargetResult, type ParsedDocument
} from '../../../services/bolt/output-parser.js'
import { JsonStringCapper } from '../../../services/bolt/json-string-capper.js'
import type { ExecutionType } from '../../../schemas/index.js'

// ---- Bolt's output, as printed (examples from shared/notes/bolt-cli.md) ----

const ITEM_CMD_OK = '{"target":"localhost","action":"command","object":"echo hello; echo oops 1>&2","status":"success","value":{"stdout":"hello\\n","stderr":"oops\\n","merged_output":"hello\\noops\\n","exit_code":0}}'
const ITEM_CMD_FAIL = '{"target":"localhost","action":"command","object":"echo out-line; echo err-line >&2; exit 3","status":"failure","value":{"stdout":"out-line\\n","stderr":"err-line\\n","merged_output":"out-line\\nerr-line\\n","exit_code":3,"_error":{"kind":"puppetlabs.tasks/command-error","issue_code":"COMMAND_ERROR","msg":"The command failed with exit code 3","details":{"exit_code":3}}}}'
const ITEM_CONNECT = '{"target":"ssh://127.0.0.1:1","action":"command","object":null,"status":"failure","value":{"_error":{"details":{},"kind":"puppetlabs.tasks/connect-error","msg":"Failed to connect to ssh://127.0.0.1:1: Connection refused - connect(2) for 127.0.0.1:1","issue_code":"CONNECT_ERROR"}}}'
const ITEM_TASK_OK = '{"target":"web1","action":"task","object":"demo::info","status":"success","value":{"hostname":"vm","greeting":"hello"}}'
const ITEM_TASK_FAIL = '{"target":"web1","action":"task","object":"demo::fail","status":"failure","value":{"_output":"","_error":{"kind":"puppetlabs.tasks/task-error","issue_code":"TASK_ERROR","msg":"The task failed with exit code 4 and no stdout, but stderr contained:\\nsomething broke\\n","details":{"exit_code":4}}}}'

/** A `command run` document with live output lines interleaved, exactly as Bolt prints it. */
const COMMAND_DOC = [
  '{ "items": [',
  '[localhost] out: hello',
  '[localhost] err: oops',
  ITEM_CMD_OK,
  ',',
  '[localhost] out: out-line',
  '[localhost] err: err-line',
  ITEM_CMD_FAIL,
  ',',
  ITEM_CONNECT,
  '],',
  '"target_count": 3, "elapsed_time": 1 }',
  ''
].join('\n')

const TASK_DOC = [
  '{ "items": [',
  '[web1] out: {"hostname":"vm","greeting":"hello"}',
  ITEM_TASK_OK,
  ',',
  '[web1] err: something broke',
  ITEM_TASK_FAIL,
  '],',
  '"target_count": 2, "elapsed_time": 0 }',
  ''
].join('\n')

const FATAL_DOC = [
  '{ "items": [',
  '],',
  '"_error": ',
  '{"kind":"bolt/unknown-task","msg":"Could not find a task named \'demo::nosuch\'. ...","details":{}}',
  '}',
  ''
].join('\n')

const PLAIN_FATALS = [
  "Command requires a targeting option: '--targets', '--rerun', or '--query'",
  "Invalid task 'Bad-Name'",
  "Unknown argument '--bogus'"
]

const CMD_OK_RESULT = { target: 'localhost', status: 'success', exitCode: 0, stdout: 'hello\n', stderr: 'oops\n' }
const CMD_FAIL_RESULT = {
  target: 'localhost',
  status: 'failed',
  exitCode: 3,
  stdout: 'out-line\n',
  stderr: 'err-line\n',
  error: { kind: 'puppetlabs.tasks/command-error', message: 'The command failed with exit code 3', issueCode: 'COMMAND_ERROR' }
}
const CONNECT_RESULT = {
  target: 'ssh://127.0.0.1:1',
  status: 'failed',
  error: {
    kind: 'puppetlabs.tasks/connect-error',
    message: 'Failed to connect to ssh://127.0.0.1:1: Connection refused - connect(2) for 127.0.0.1:1',
    issueCode: 'CONNECT_ERROR'
  }
}
const TASK_OK_RESULT = { target: 'web1', status: 'success', value: { hostname: 'vm', greeting: 'hello' } }
const TASK_FAIL_RESULT = {
  target: 'web1',
  status: 'failed',
  exitCode: 4,
  stdout: '',
  error: {
    kind: 'puppetlabs.tasks/task-error',
    message: 'The task failed with exit code 4 and no stdout, but stderr contained:\nsomething broke\n',
    issueCode: 'TASK_ERROR'
  }
}

// ---- harness ----

interface Out { stream: 'stdout' | 'stderr', target: string, text: string }
interface Run { outputs: Out[], doc: ParsedDocument }

function run (pieces: string[], type: ExecutionType = 'command', maxStringChars = 1 << 20): Run {
  const outputs: Out[] = []
  const parser = new BoltDocumentParser({ type, maxStringChars })
  const demux = new BoltStdoutDemux({ output: (stream, target, text) => outputs.push({ stream, target, text }) }, parser)
  for (const piece of pieces) demux.push(Buffer.from(piece, 'utf8'))
  demux.end()
  return { outputs, doc: parser.finish() }
}

const COMMAND_OUTPUTS: Out[] = [
  { stream: 'stdout', target: 'localhost', text: 'hello\n' },
  { stream: 'stderr', target: 'localhost', text: 'oops\n' },
  { stream: 'stdout', target: 'localhost', text: 'out-line\n' },
  { stream: 'stderr', target: 'localhost', text: 'err-line\n' }
]

// ---- documents ----

t.test('command document: items, errors, live output', async (t) => {
  const { outputs, doc } = run([COMMAND_DOC])
  t.same(doc.error, null, 'a complete document has no error')
  t.equal(doc.truncated, false)
  t.equal(doc.results.length, 3)
  t.strictSame(doc.results[0], CMD_OK_RESULT)
  t.strictSame(doc.results[1], CMD_FAIL_RESULT)
  t.strictSame(doc.results[2], CONNECT_RESULT, 'connection failure (object null) → failed with CONNECT_ERROR')
  t.strictSame(outputs, COMMAND_OUTPUTS)
})

t.test('task document: value without _output/_error, _output → stdout', async (t) => {
  const { outputs, doc } = run([TASK_DOC], 'task')
  t.equal(doc.error, null)
  t.strictSame(doc.results, [TASK_OK_RESULT, TASK_FAIL_RESULT])
  t.notOk('value' in doc.results[1], 'an empty value (after _output/_error) is left out')
  t.strictSame(outputs, [
    { stream: 'stdout', target: 'web1', text: '{"hostname":"vm","greeting":"hello"}\n' },
    { stream: 'stderr', target: 'web1', text: 'something broke\n' }
  ])
})

t.test('package task values', async (t) => {
  const lines = [
    '{ "items": [',
    '{"target":"web1","action":"task","object":"package","status":"success","value":{"status":"installed","version":"1:9.2p1-2+deb12u10"}}',
    ',',
    '{"target":"web2","action":"task","object":"package","status":"failure","value":{"status":"failure","_error":{"msg":"E: Unable to locate package nosuchpkg ","kind":"bash-error","details":{}}}}',
    '],',
    '"target_count": 2, "elapsed_time": 3 }'
  ]
  const { doc } = run([lines.join('\n') + '\n'], 'package')
  t.equal(doc.error, null)
  t.strictSame(doc.results, [
    { target: 'web1', status: 'success', value: { status: 'installed', version: '1:9.2p1-2+deb12u10' } },
    { target: 'web2', status: 'failed', value: { status: 'failure' }, error: { kind: 'bash-error', message: 'E: Unable to locate package nosuchpkg ' } }
  ])
})

t.test('fatal _error document', async (t) => {
  const { outputs, doc } = run([FATAL_DOC], 'task')
  t.same(doc.results, [])
  t.strictSame(doc.error, { kind: 'bolt/unknown-task', message: "Could not find a task named 'demo::nosuch'. ..." })
  t.same(outputs, [])
})

t.test('fatal _error after some items', async (t) => {
  const text = ['{ "items": [', ITEM_TASK_OK, '],', '"_error": ',
    '{"kind":"bolt/pal-error","msg":"Parameter validation failed","details":{},"issue_code":"PAL_ERR"}', '}', ''].join('\n')
  const { doc } = run([text], 'task')
  t.strictSame(doc.results, [TASK_OK_RESULT])
  t.strictSame(doc.error, { kind: 'bolt/pal-error', message: 'Parameter validation failed', issueCode: 'PAL_ERR' })
})

t.test('plain-text fatal output → bolt/cli-error', async (t) => {
  for (const message of PLAIN_FATALS) {
    for (const ending of ['\n', '\r\n', '']) {
      const { doc, outputs } = run([message + ending])
      t.strictSame(doc.error, { kind: 'bolt/cli-error', message }, `${message} ${JSON.stringify(ending)}`)
      t.same(doc.results, [])
      t.same(outputs, [])
    }
  }
  // Split into two pushes at every position, too.
  const message = PLAIN_FATALS[0] + '\n'
  for (let i = 0; i <= message.length; i++) {
    const { doc } = run([message.slice(0, i), message.slice(i)])
    if (doc.error?.message !== PLAIN_FATALS[0]) {
      t.fail(`split at ${i}`, { error: doc.error })
      return
    }
  }
  t.pass('plain text split anywhere gives the same message')
})

t.test('no output, missing items, truncated document', async (t) => {
  for (const text of ['', '\n', '\n\n  \n']) {
    const { doc } = run([text])
    t.equal(doc.error?.kind, 'bolt-stream/no-output', `no output: ${JSON.stringify(text)}`)
    t.same(doc.results, [])
  }
  t.equal(run([]).doc.error?.kind, 'bolt-stream/no-output', 'no push at all')

  const noItems = run(['{ "target_count": 0, "elapsed_time": 0 }\n'])
  t.equal(noItems.doc.error?.kind, 'bolt-stream/invalid-document')
  t.same(noItems.doc.results, [])

  const truncated = run(['{ "items": [\n' + ITEM_CMD_OK + '\n'])
  t.equal(truncated.doc.error?.kind, 'bolt-stream/truncated-document')
  t.strictSame(truncated.doc.results, [CMD_OK_RESULT], 'the finished item is kept')

  const onlyHead = run(['{ "items": [\n'])
  t.equal(onlyHead.doc.error?.kind, 'bolt-stream/truncated-document')

  // Killed in the middle of an item line (no newline at the end).
  const midItem = run(['{ "items": [\n' + ITEM_CMD_OK + '\n,\n' + ITEM_CMD_FAIL.slice(0, 50)])
  t.ok(midItem.doc.error !== null, 'a cut item line is an error')
  t.strictSame(midItem.doc.results, [CMD_OK_RESULT])

  // Killed after `],` but before the tail.
  const noTail = run(['{ "items": [\n' + ITEM_CMD_OK + '\n],\n'])
  t.equal(noTail.doc.error?.kind, 'bolt-stream/truncated-document')
  t.strictSame(noTail.doc.results, [CMD_OK_RESULT])
})

t.test('garbage item line → invalid-document', async (t) => {
  const { doc } = run(['{ "items": [\nthis is not json\n],\n"target_count": 1, "elapsed_time": 0 }\n'])
  t.equal(doc.error?.kind, 'bolt-stream/invalid-document')
})

t.test('every split point into two pushes gives the same result', async (t) => {
  const cases: Array<[string, ExecutionType]> = [[COMMAND_DOC, 'command'], [TASK_DOC, 'task'], [FATAL_DOC, 'task']]
  for (const [text, type] of cases) {
    const whole = run([text], type)
    let bad = -1
    for (let i = 0; i <= text.length && bad === -1; i++) {
      const split = run([text.slice(0, i), text.slice(i)], type)
      if (JSON.stringify(split) !== JSON.stringify(whole)) bad = i
    }
    t.equal(bad, -1, `${type} document: no split point differs (${text.length + 1} tried)`)
    if (bad !== -1) t.strictSame(run([text.slice(0, bad), text.slice(bad)], type), whole, `first differing split: ${bad}`)
  }
})

t.test('one character per push', async (t) => {
  const whole = run([COMMAND_DOC])
  t.strictSame(run([...COMMAND_DOC]), whole)
})

t.test('CRLF line ends', async (t) => {
  const crlf = COMMAND_DOC.replaceAll('\n', '\r\n')
  const { outputs, doc } = run([crlf])
  t.equal(doc.error, null)
  t.strictSame(doc.results, [CMD_OK_RESULT, CMD_FAIL_RESULT, CONNECT_RESULT])
  t.strictSame(outputs, COMMAND_OUTPUTS, 'no \\r left in live output')
  // And split anywhere.
  let bad = -1
  for (let i = 0; i <= crlf.length && bad === -1; i++) {
    if (JSON.stringify(run([crlf.slice(0, i), crlf.slice(i)])) !== JSON.stringify({ outputs, doc })) bad = i
  }
  t.equal(bad, -1, 'CRLF document split anywhere gives the same result')
})

t.test('CRLF multi-line plain text: same message at every split point', async (t) => {
  const text = "Unknown argument '--bogus'\r\nRun 'bolt --help' for usage\r\n"
  const expected = { kind: 'bolt/cli-error', message: "Unknown argument '--bogus'\nRun 'bolt --help' for usage" }
  t.strictSame(run([text]).doc.error, expected, 'one push')
  const wrong: number[] = []
  for (let i = 0; i <= text.length; i++) {
    if (JSON.stringify(run([text.slice(0, i), text.slice(i)]).doc.error) !== JSON.stringify(expected)) wrong.push(i)
  }
  t.strictSame(wrong, [], 'split points giving a different message (e.g. with a stray \\r)')
  if (wrong.length > 0) t.strictSame(run([text.slice(0, wrong[0]), text.slice(wrong[0])]).doc.error, expected, `split at ${wrong[0]}`)
})

t.test('stream lines', async (t) => {
  const head = '{ "items": [\n'
  const tail = ITEM_CMD_OK + '\n],\n"target_count": 1, "elapsed_time": 0 }\n'

  const split = run([head + '[web1] out: hel', 'lo wor', 'ld\n' + tail])
  t.strictSame(split.outputs, [{ stream: 'stdout', target: 'web1', text: 'hello world\n' }], 'a stream line split across pushes')
  t.equal(split.doc.error, null)

  const nested = run([head + '[web1] out: [web2] out: x\n[web1] err: look: ] out: y\n' + tail])
  t.strictSame(nested.outputs, [
    { stream: 'stdout', target: 'web1', text: '[web2] out: x\n' },
    { stream: 'stderr', target: 'web1', text: 'look: ] out: y\n' }
  ], 'output containing "] out: " again stays with the first target')

  const targets = run([head + '[ssh://root@web1.example.com:22] out: a\n[user@host] err: b\n[10.0.0.1] out: \n' + tail])
  t.strictSame(targets.outputs, [
    { stream: 'stdout', target: 'ssh://root@web1.example.com:22', text: 'a\n' },
    { stream: 'stderr', target: 'user@host', text: 'b\n' },
    { stream: 'stdout', target: '10.0.0.1', text: '\n' }
  ])
  t.equal(targets.doc.error, null)
})

t.test('stream lines of an IPv6 target ([::1], a valid target name)', async (t) => {
  // Bolt prefixes live output with `[<target name>] out: `, so the target `[::1]` prints `[[::1]] out: `.
  const text = '{ "items": [\n[[::1]] out: hello\n' +
    '{"target":"[::1]","action":"command","object":"echo hello","status":"success","value":{"stdout":"hello\\n","stderr":"","merged_output":"hello\\n","exit_code":0}}\n' +
    '],\n"target_count": 1, "elapsed_time": 0 }\n'
  const { outputs, doc } = run([text])
  t.strictSame(outputs, [{ stream: 'stdout', target: '[::1]', text: 'hello\n' }], 'live output is recognised')
  t.equal(doc.error, null, 'the live output line does not corrupt the document')
  t.equal(doc.results[0]?.status, 'success')
})

t.test('a stream line cut inside a UTF-8 character is joined with its continuation (capture c22)', async (t) => {
  // The real Bolt's output: a 6001-byte line of é, cut by a 4096-byte read between C3 and A9.
  const captured = readFileSync(new URL('../../fixtures/captures/cases/c22-utf8-split.stdout', import.meta.url))
  const lines = captured.toString('latin1').split('\n')
  t.ok(lines[1].endsWith('\u00c3') && lines[2].startsWith('[localhost] out: \u00a9'), 'the capture holds the cut')
  for (const size of [captured.length, 4096, 1000, 7]) {
    const outputs: Out[] = []
    const parser = new BoltDocumentParser({ type: 'command', maxStringChars: 1 << 20 })
    const demux = new BoltStdoutDemux({ output: (stream, target, text) => outputs.push({ stream, target, text }) }, parser)
    for (let i = 0; i < captured.length; i += size) demux.push(captured.subarray(i, i + size))
    demux.end()
    const doc = parser.finish()
    const live = outputs.map((o) => o.text).join('')
    t.notOk(live.includes('\ufffd'), `pushes of ${size} bytes: no replacement character`)
    t.equal(live, doc.results[0].stdout, `pushes of ${size} bytes: the live text is the document's`)
    t.equal(live, 'x' + 'é'.repeat(3000) + '\n')
    t.ok(outputs.every((o) => o.target === 'localhost' && o.stream === 'stdout'))
  }
})

t.test('cut characters: per target and stream; one never finished stays broken', async (t) => {
  const cut = (target: string, stream: string, bytes: number[]): Buffer => Buffer.concat([Buffer.from(`[${target}] ${stream}: `), Buffer.from(bytes), Buffer.from('\n')])
  const euro = [0xe2, 0x82, 0xac]
  const outputs: Out[] = []
  const parser = new BoltDocumentParser({ type: 'command', maxStringChars: 1 << 20 })
  const demux = new BoltStdoutDemux({ output: (stream, target, text) => outputs.push({ stream, target, text }) }, parser)
  demux.push(Buffer.concat([
    Buffer.from('{ "items": [\n'),
    cut('a', 'out', [0x61, euro[0]]), // a€ cut after its first byte…
    cut('b', 'out', [0x62, euro[0], euro[1]]),
    cut('a', 'err', [0x78]), // another stream of a in between
    cut('a', 'out', [euro[1], euro[2], 0x21]), // …finished here
    cut('b', 'out', [0x63]), // b's character is never finished
    cut('c', 'out', [0xc3]) // nor c's, before the end
  ]))
  demux.end()
  const text = (target: string, stream: string): string => outputs.filter((o) => o.target === target && o.stream === stream).map((o) => o.text).join('')
  t.equal(text('a', 'stdout'), 'a€!\n', 'joined across the other lines')
  t.equal(text('a', 'stderr'), 'x\n')
  t.equal(text('b', 'stdout'), 'b\ufffd\nc\n', 'a cut not continued is a broken character, as Bolt printed it')
  t.equal(text('c', 'stdout'), '\ufffd\n', 'flushed at the end')
})

// ---- puppet exit codes ----

function puppetItem (exitCode: number): string {
  const value: Record<string, unknown> = { stdout: 'Notice: Applied catalog\n', stderr: '', merged_output: 'Notice: Applied catalog\n', exit_code: exitCode }
  if (exitCode !== 0) {
    value._error = { kind: 'puppetlabs.tasks/command-error', issue_code: 'COMMAND_ERROR', msg: `The command failed with exit code ${exitCode}`, details: { exit_code: exitCode } }
  }
  return JSON.stringify({ target: 'web1', action: 'command', object: 'puppet agent --test --color=false', status: exitCode === 0 ? 'success' : 'failure', value })
}

function docOf (items: string[]): string {
  return ['{ "items": [', items.join('\n,\n'), '],', `"target_count": ${items.length}, "elapsed_time": 12 }`, ''].join('\n')
}

t.test('puppet detailed exit codes', async (t) => {
  const { doc } = run([docOf([0, 2, 4, 6, 1].map(puppetItem))], 'puppet')
  t.equal(doc.error, null)
  const [r0, r2, r4, r6, r1] = doc.results
  t.strictSame(r0, { target: 'web1', status: 'success', exitCode: 0, stdout: 'Notice: Applied catalog\n', stderr: '' })
  t.strictSame(r2, { target: 'web1', status: 'success', exitCode: 2, stdout: 'Notice: Applied catalog\n', stderr: '' }, '2 = changes applied: success, no error')
  for (const [r, code] of [[r4, 4], [r6, 6], [r1, 1]] as const) {
    t.equal(r.status, 'failed', `exit ${code} failed`)
    t.equal(r.exitCode, code)
    t.equal(r.error?.kind, 'puppetlabs.tasks/command-error')
    t.equal(r.error?.issueCode, 'COMMAND_ERROR')
  }
})

t.test('command type: exit 2 is a failure', async (t) => {
  const { doc } = run([docOf([puppetItem(2)])], 'command')
  t.equal(doc.results[0].status, 'failed')
  t.equal(doc.results[0].exitCode, 2)
  t.equal(doc.results[0].error?.kind, 'puppetlabs.tasks/command-error')
})

t.test('puppet: a connection error is never re-interpreted', async (t) => {
  const r = toTargetResult(JSON.parse(ITEM_CONNECT), 'puppet')
  t.equal(r.status, 'failed')
  t.equal(r.error?.issueCode, 'CONNECT_ERROR')
})

t.test('toTargetResult directly', async (t) => {
  t.strictSame(toTargetResult(JSON.parse(ITEM_CMD_FAIL), 'command'), CMD_FAIL_RESULT)
  t.strictSame(toTargetResult(JSON.parse(ITEM_TASK_FAIL), 'task'), TASK_FAIL_RESULT)
  t.strictSame(toTargetResult(JSON.parse(ITEM_TASK_OK), 'package'), TASK_OK_RESULT)
  const item = JSON.parse(ITEM_TASK_FAIL)
  toTargetResult(item, 'task')
  t.ok('_error' in item.value && '_output' in item.value, 'the input item is not modified')
  const odd = toTargetResult({ target: 'x', status: 'success', value: 'not an object' }, 'task')
  t.strictSame(odd, { target: 'x', status: 'success' })
  const taskOutput = toTargetResult({ target: 'x', status: 'success', value: { _output: 'plain text\n' } }, 'task')
  t.strictSame(taskOutput, { target: 'x', status: 'success', stdout: 'plain text\n' })
})

// ---- memory bound ----

t.test('a ~5 MB item line is capped by maxStringChars', async (t) => {
  const big = 'x'.repeat(5 * 1024 * 1024)
  const line = JSON.stringify({ target: 'web1', action: 'command', object: 'yes | head', status: 'failure', value: { stdout: big, stderr: 'warn\n', merged_output: big, exit_code: 7, _error: { kind: 'puppetlabs.tasks/command-error', issue_code: 'COMMAND_ERROR', msg: 'The command failed with exit code 7', details: { exit_code: 7 } } } })
  const text = '{ "items": [\n[web1] out: xxxx\n' + line + '\n],\n"target_count": 1, "elapsed_time": 2 }\n'
  const pieces: string[] = []
  for (let i = 0; i < text.length; i += 65536) pieces.push(text.slice(i, i + 65536))
  const { doc, outputs } = run(pieces, 'command', 1000)
  t.equal(doc.error, null)
  t.equal(doc.truncated, true)
  t.equal(doc.results.length, 1)
  const r = doc.results[0]
  t.ok((r.stdout?.length ?? Infinity) <= 1000, `stdout length ${r.stdout?.length} ≤ 1000`)
  t.ok(big.startsWith(r.stdout ?? '?'), 'stdout is a prefix of the real output')
  t.equal(r.stderr, 'warn\n')
  t.equal(r.exitCode, 7)
  t.equal(r.status, 'failed')
  t.equal(r.error?.message, 'The command failed with exit code 7')
  t.strictSame(outputs, [{ stream: 'stdout', target: 'web1', text: 'xxxx\n' }])

  t.equal(run([COMMAND_DOC], 'command', 1000).doc.truncated, false, 'nothing cut → not truncated')
})

// ---- JsonStringCapper ----

function cap (limit: number, pieces: string[]): { text: string, truncated: boolean } {
  const c = new JsonStringCapper(limit)
  for (const p of pieces) c.push(p)
  const text = c.text()
  if (c.size !== text.length) throw new Error(`size ${c.size} != text length ${text.length}`)
  return { text, truncated: c.truncated }
}

t.test('capper: long string cut, other keys intact', async (t) => {
  const doc = { target: 'web1', value: { stdout: 'a'.repeat(500), stderr: 'short', exit_code: 3, list: ['x', 'y'] }, after: true }
  const json = JSON.stringify(doc)
  // Every string is capped, keys included: the limits here are ≥ the longest key ("exit_code").
  for (const limit of [9, 10, 100, 499]) {
    const out = cap(limit, [json])
    const parsed = JSON.parse(out.text)
    t.equal(parsed.value.stdout, 'a'.repeat(limit), `stdout cut to ${limit}`)
    t.equal(parsed.value.stderr, 'short')
    t.equal(parsed.value.exit_code, 3, 'key after the long string intact')
    t.same(parsed.value.list, ['x', 'y'])
    t.equal(parsed.after, true)
    t.equal(parsed.target, 'web1')
    t.equal(out.truncated, true)
  }
  const exact = cap(500, [json])
  t.equal(exact.text, json, 'limit = longest string: unchanged')
  t.equal(exact.truncated, false, 'not truncated when nothing was cut')
  t.equal(cap(501, [json]).truncated, false)
  t.equal(cap(10, ['{"a":1,"b":[true,null,2.5]}']).truncated, false, 'no long strings')
})

t.test('capper: escapes never cut in the middle', async (t) => {
  const value = '\n"\\\u00e9\t/\u0001ab\n"\\\u00e9\u2028' + '\\"'.repeat(5)
  // A JSON text that keeps \u escapes as written.
  const json = JSON.stringify(value).replace('é', '\\u00e9').replace('é', '\\u00e9')
  t.match(json, /\\u00e9/, 'the text holds \\u escapes')
  t.equal(JSON.parse(json), value)
  const written = json.length - 2
  for (let limit = 0; limit <= 40; limit++) {
    const out = cap(limit, [json])
    let parsed: unknown
    try {
      parsed = JSON.parse(out.text)
    } catch (err) {
      t.fail(`limit ${limit}: not JSON: ${out.text}`, { err })
      continue
    }
    t.ok(typeof parsed === 'string' && value.startsWith(parsed), `limit ${limit}: a prefix of the value`)
    const kept = out.text.length - 2
    t.ok(kept >= Math.min(limit, written) && kept <= limit + 5, `limit ${limit}: kept ${kept} written chars`)
    t.equal(out.truncated, kept < written, `limit ${limit}: truncated flag set only when something was cut`)
    // Fragments of every size give the same output as one push.
    for (let size = 1; size <= 7; size++) {
      const pieces: string[] = []
      for (let i = 0; i < json.length; i += size) pieces.push(json.slice(i, i + size))
      const fragmented = cap(limit, pieces)
      if (fragmented.text !== out.text || fragmented.truncated !== out.truncated) {
        t.fail(`limit ${limit}, fragments of ${size}: differs`, { fragmented, out })
      }
    }
  }
})

t.test('capper: surrogate pairs not split', async (t) => {
  const value = 'a😀b🎉🎉c' + '😀'.repeat(8)
  const json = JSON.stringify({ s: value })
  const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
  for (let limit = 1; limit <= value.length + 1; limit++) {
    for (const pieces of [[json], [...json], [json.slice(0, 9), json.slice(9)], [json.slice(0, 10), json.slice(10)]]) {
      const out = cap(limit, pieces)
      const parsed = JSON.parse(out.text)
      t.ok(value.startsWith(parsed.s), `limit ${limit}: prefix`)
      t.notMatch(out.text, lone, `limit ${limit}: no lone surrogate`)
      t.ok(parsed.s.length >= Math.min(limit, value.length) && parsed.s.length <= limit + 1, `limit ${limit}: length ${parsed.s.length}`)
    }
  }
})

t.test('capper: arbitrary fragment sizes equal one push', async (t) => {
  const json = JSON.stringify([{ stdout: 'x'.repeat(300) + '\\"é😀\n'.repeat(20), k: 'v', n: 1 }, 'tail \\ string "quoted"', { 'key "q"': 'y'.repeat(90) }])
  let seed = 42
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n
  }
  for (const limit of [0, 1, 7, 64, 100, 311, 10_000]) {
    const whole = cap(limit, [json])
    t.doesNotThrow(() => JSON.parse(whole.text), `limit ${limit}: valid JSON`)
    let same = true
    for (let round = 0; round < 60; round++) {
      const pieces: string[] = []
      for (let i = 0; i < json.length;) {
        const n = 1 + rand(round % 2 === 0 ? 5 : 200)
        pieces.push(json.slice(i, i + n))
        i += n
      }
      if (round % 10 === 0) pieces.splice(rand(pieces.length), 0, '')
      const out = cap(limit, pieces)
      if (out.text !== whole.text || out.truncated !== whole.truncated) same = false
    }
    t.ok(same, `limit ${limit}: 60 random fragmentations equal one push`)
  }
  t.equal(cap(10_000, [json]).text, json, 'high limit: unchanged')
  t.equal(cap(10_000, [json]).truncated, false)
})

t.test('capper: values of dropped keys are emptied, wherever the fragments split', async (t) => {
  const text = '{"target":"a","value":{"stdout":"out\\n","merged_output":"out\\nerr\\n\\"q\\"","stderr":"err\\n","exit_code":0}}'
  for (let size = 1; size <= text.length; size++) {
    const c = new JsonStringCapper(1000, new Set(['merged_output']))
    for (let i = 0; i < text.length; i += size) c.push(text.slice(i, i + size))
    const parsed = JSON.parse(c.text())
    t.same(parsed.value, { stdout: 'out\n', merged_output: '', stderr: 'err\n', exit_code: 0 }, `fragments of ${size}`)
  }
})
