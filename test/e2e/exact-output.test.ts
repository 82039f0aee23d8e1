import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { copyProject } from '../fixtures/projects.js'
import { build, openStream, postJson, type SseEvent, type SseStream, type TestApp } from '../helper.js'

// What the records, the `complete` event and `/output` hold, against the real Bolt's behaviour
// as the stand-in reproduces it: its live stream lines are cut where its 4096-byte reads ended
// and lose reads of only "\n"; its result document is exact.

const isTerminal = (e: SseEvent): boolean => e.event === 'complete' || e.event === 'error'

/** The live text of one target and stream, as the events carried it. */
const liveText = (stream: SseStream, type: 'stdout' | 'stderr', target: string): string =>
  stream.events.filter((e) => e.event === type && e.payload.data.target === target).map((e) => e.payload.data.output as string).join('')

async function runToEnd (ctx: TestApp, path: string, body: Record<string, unknown>): Promise<{ id: string, stream: SseStream, terminal: SseEvent }> {
  const res = await postJson(`${ctx.url}/api/${path}`, { ...body, expertMode: true })
  if (res.status !== 202) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.json)}`)
  const id = res.json.executionId as string
  const stream = await openStream(`${ctx.url}/api/executions/${id}/stream`)
  const terminal = await stream.waitFor(isTerminal, 20_000)
  await stream.ended
  return { id, stream, terminal }
}

async function output (ctx: TestApp, id: string, query: string): Promise<{ source: string | null, body: string }> {
  const res = await fetch(`${ctx.url}/api/executions/${id}/output${query}`)
  if (res.status !== 200) throw new Error(`output${query}: ${res.status} ${await res.text()}`)
  return { source: res.headers.get('x-output-source'), body: await res.text() }
}

/** The app with the project the captures ran in as its Bolt project (its `mymod::*` tasks). */
async function capturedProjectApp (t: { teardown: (fn: () => unknown) => void }): Promise<TestApp> {
  const project = copyProject('captured', mkdtempSync(join(tmpdir(), 'bolt-stream-captured-')))
  t.teardown(() => rmSync(project, { recursive: true, force: true }))
  return build(t, { listen: true, env: { BOLT_PROJECT: project } })
}

t.test("a task's stdout is Bolt's _output exactly; its stderr, which Bolt does not keep, is the stream's and says so", async (t) => {
  const ctx = await capturedProjectApp(t)
  // mymod::chunky writes `part1-`, pauses, `part2\n`, a lone "\n", `last\n` (capture c28).
  const { id, stream, terminal } = await runToEnd(ctx, 'tasks', { targets: ['localhost'], task: 'mymod::chunky' })
  t.equal(terminal.event, 'complete')
  t.equal(liveText(stream, 'stdout', 'localhost'), 'part1-\npart2\nlast\n', 'the live view: cut at reads, the blank read lost')
  const record = (await (await fetch(`${ctx.url}/api/executions/${id}`)).json()) as any
  const result = record.results[0]
  t.equal(result.stdout, 'part1-part2\n\nlast\n', "the record: Bolt's _output, byte for byte")
  t.equal(result.stderr, liveText(stream, 'stderr', 'localhost'), 'stderr: the stream is the only source')
  t.strictSame(result.liveOutput, ['stderr'], 'and the record says so')
  t.notOk('outputTruncated' in result)
  t.strictSame((terminal.payload.data.results as any[])[0], result, 'the complete event carries the same result')
})

t.test("a JSON task: value from Bolt's document, no stdout rebuilt from the stream", async (t) => {
  const ctx = await capturedProjectApp(t)
  const { id, stream } = await runToEnd(ctx, 'tasks', { targets: ['localhost'], task: 'mymod::jsonout' })
  const record = (await (await fetch(`${ctx.url}/api/executions/${id}`)).json()) as any
  const result = record.results[0]
  t.strictSame(result.value, { status: 'ok', answer: 42, name: 'none' })
  t.notOk('stdout' in result, "Bolt's document has no _output for it")
  t.equal(result.stderr, 'progress on stderr\n')
  t.strictSame(result.liveOutput, ['stderr'])
  t.match(liveText(stream, 'stdout', 'localhost'), /"answer":42/, 'the printed JSON stays in the live log')
})

t.test('a line of é cut at a 4096-byte read: no broken character live, in /output or in the record', async (t) => {
  const ctx = await build(t, { listen: true })
  const { id, stream, terminal } = await runToEnd(ctx, 'commands', { targets: ['a'], command: 'printf "x$(printf "é%.0s" $(seq 1 3000))\\n"' })
  t.equal(terminal.event, 'complete')
  const expected = 'x' + 'é'.repeat(3000) + '\n'
  const live = liveText(stream, 'stdout', 'a')
  t.notOk(live.includes('\ufffd'), 'no U+FFFD in the events')
  t.equal(live, expected, 'the events hold the line whole')
  const logged = await output(ctx, id, '?target=a&source=live')
  t.equal(logged.source, 'live')
  t.notOk(logged.body.includes('\ufffd'), 'no U+FFFD in the live log')
  t.equal(logged.body, expected)
  t.notOk((await output(ctx, id, '')).body.includes('\ufffd'), 'nor in the prefixed output')
  t.equal((terminal.payload.data.results as any[])[0].stdout, expected)
})

t.test("/output?target= after the end: the target's text as Bolt's document has it; ?source=live the live log", async (t) => {
  const ctx = await build(t, { listen: true })

  t.test('blank lines that the live view loses (capture c21)', async (t) => {
    const command = 'echo a; sleep 0.3; echo; sleep 0.3; echo b; printf "\\n\\nc\\n"; sleep 0.3; printf "d\\n\\n"'
    const { id, terminal } = await runToEnd(ctx, 'commands', { targets: ['a'], command })
    const exact = await output(ctx, id, '?target=a')
    t.equal(exact.source, 'result')
    t.equal(exact.body, 'a\n\nb\n\n\nc\nd\n\n', "Bolt's stdout, every blank line kept")
    t.equal((terminal.payload.data.results as any[])[0].stdout, exact.body, 'the complete event carries the same text')
    const live = await output(ctx, id, '?target=a&source=live')
    t.equal(live.source, 'live')
    t.equal(live.body, 'a\nb\n\n\nc\nd\n\n', 'the live log lacks the blank line read alone')
  })

  t.test('text without a final newline stays so; stdout and stderr each exactly', async (t) => {
    const { id } = await runToEnd(ctx, 'commands', { targets: ['a'], command: 'printf "no newline at all"; printf "e1\\n\\ne2" >&2' })
    t.equal((await output(ctx, id, '?target=a&stream=stdout')).body, 'no newline at all')
    t.equal((await output(ctx, id, '?target=a&stream=stderr')).body, 'e1\n\ne2')
    t.equal((await output(ctx, id, '?target=a')).body, 'no newline at all\ne1\n\ne2', 'stdout, then stderr on a line of its own')
  })

  t.test('a result cut to the output limit: the live log answers', async (t) => {
    const small = await build(t, { listen: true, env: { MAX_OUTPUT_BYTES: '1024' } })
    const { id } = await runToEnd(small, 'commands', { targets: ['a'], command: 'seq 1 2000' })
    const record = (await (await fetch(`${small.url}/api/executions/${id}`)).json()) as any
    t.equal(record.results[0].outputTruncated, true, 'the result says it was cut')
    t.equal((await output(small, id, '?target=a')).source, 'live')
  })

  t.test('a bad source is a 400', async (t) => {
    const { id } = await runToEnd(ctx, 'commands', { targets: ['a'], command: 'true' })
    const res = await fetch(`${ctx.url}/api/executions/${id}/output?source=exactly`)
    t.equal(res.status, 400)
    t.match(((await res.json()) as any).error.code, /^BOLT_STREAM_/)
  })
})
