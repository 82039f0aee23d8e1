// The plan output parser against what real Bolt printed for every `--format json` plan case
// (p01–p17), fed in pieces of every size: stream lines to the sink, the last line to the return
// value or the failure; and the lines a return value may hold that look like stream lines.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { BoltStdoutDemux } from '../../../services/bolt/output-parser.js'
import { PlanDocumentParser } from '../../../services/bolt/plan-document.js'

const CASES = fileURLToPath(new URL('../../fixtures/captures/cases/', import.meta.url))

interface Out { stream: string, target: string, text: string }

function parse (stdout: Buffer, exitCode: number | null, piece = stdout.length, maxResultChars = 1 << 20) {
  const outputs: Out[] = []
  const parser = new PlanDocumentParser({ maxStringChars: 1 << 20, maxResultChars })
  const demux = new BoltStdoutDemux({ output: (stream, target, text) => outputs.push({ stream, target, text }) }, parser, true)
  for (let at = 0; at < stdout.length; at += piece) demux.push(stdout.subarray(at, at + piece))
  demux.end()
  return { outputs, doc: parser.finish(exitCode) }
}

const jsonCases = readdirSync(CASES).filter((f) => /^p\d+[a-z]?-.*\.stdout$/.test(f) && !f.includes('human')).map((f) => f.slice(0, -'.stdout'.length))

t.test('every captured plan case', async (t) => {
  t.ok(jsonCases.length >= 18, `${jsonCases.length} cases`)
  for (const name of jsonCases) {
    const stdout = readFileSync(join(CASES, `${name}.stdout`))
    const rc = Number(readFileSync(join(CASES, `${name}.rc`), 'utf8').trim())
    const lines = stdout.toString('utf8').trimEnd().split('\n')
    const last: any = JSON.parse(lines.at(-1)!)
    const streamLines = lines.slice(0, -1)
    for (const piece of [1, 7, 4096, stdout.length]) {
      const { outputs, doc } = parse(stdout, rc, piece)
      const label = `${name} in pieces of ${piece}`
      t.same(outputs.map((o) => `[${o.target}] ${o.stream === 'stdout' ? 'out' : 'err'}: ${o.text}`).join(''),
        streamLines.map((l) => l + '\n').join(''), `${label}: the stream lines go to the stream`)
      if (rc === 0) {
        t.equal(doc.error, null, label)
        t.same(doc.plan, { result: last }, `${label}: the return value`)
      } else {
        t.same(doc.error, { kind: last.kind, message: last.msg }, `${label}: ${last.kind}`)
        t.same(doc.plan, {}, `${label}: no return value`)
      }
    }
  }
})

t.test('a returned ResultSet also gives per-target results; a run-failure its result_set', async (t) => {
  const resultSet = parse(readFileSync(join(CASES, 'p16-pp-return-resultset.stdout')), 0).doc
  t.same(resultSet.results.map((r) => [r.target, r.status, r.stdout]), [['localhost', 'success', 'hi\n'], ['second', 'success', 'hi\n']])
  const failure = parse(readFileSync(join(CASES, 'p12-pp-cmdfail.stdout')), 1).doc
  t.same(failure.results.map((r) => [r.target, r.status, r.exitCode, r.error?.kind]), [['localhost', 'failed', 3, 'puppetlabs.tasks/command-error']])
})

t.test('return values that start like stream lines stay return values', async (t) => {
  for (const value of [['a] out: b'], [1, 'x] err: y'], [{ target: 'x] out: ', status: 'success' }], [], [[1]], 'plain', 3, null, true]) {
    const line = JSON.stringify(value)
    const { outputs, doc } = parse(Buffer.from(`[web1] out: before\n${line}\n`), 0)
    t.same(outputs, [{ stream: 'stdout', target: 'web1', text: 'before\n' }], line)
    t.same(doc.plan, { result: value }, line)
  }
})

t.test('what is not a plain return value', async (t) => {
  const cliError = parse(Buffer.from('Unknown argument(s) --bogus\n'), 1).doc
  t.same(cliError.error, { kind: 'bolt/cli-error', message: 'Unknown argument(s) --bogus' }, 'a command-line error in plain text')
  t.equal(parse(Buffer.from(''), 1).doc.error?.kind, 'bolt-stream/no-output', 'nothing printed')
  t.equal(parse(Buffer.from('{"status":"done"}\n'), 2).doc.error?.kind, 'bolt-stream/plan-error', 'a value with a failing exit')
  const lookalike = { kind: 'k', msg: 'a plan may return this', details: {} }
  t.same(parse(Buffer.from(JSON.stringify(lookalike) + '\n'), 0).doc.plan, { result: lookalike }, 'an error-shaped value with exit 0 is a value')
  const big = parse(Buffer.from(JSON.stringify({ text: 'x'.repeat(100) }) + '\n'), 0, undefined, 50).doc
  t.same(big.plan, { resultTruncated: true }, 'over the budget: flagged, not cut')
  t.equal(big.truncated, true)
})
