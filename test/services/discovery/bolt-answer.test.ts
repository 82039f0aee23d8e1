import t from 'tap'
import { readAnswer } from '../../../services/discovery/bolt-answer.js'

const out = (stdout: string, exitCode: number | null = 0, stderr = '', signal: NodeJS.Signals | null = null) => ({ stdout, stderr, exitCode, signal })

t.test("Bolt's answers: a document, its error object, plain text, a crash, a signal", async (t) => {
  t.same(readAnswer(out('{"count":1,"groups":["all"]}\n')), { ok: true, document: { count: 1, groups: ['all'] } })
  t.same(readAnswer(out('{"kind":"bolt/unknown-plan","msg":"Could not find","details":{}}\n', 1)),
    { ok: false, kind: 'bolt/unknown-plan', message: 'Could not find' })
  t.same(readAnswer(out("Unknown argument '--bogus'\n", 1)), { ok: false, kind: 'bolt/cli-error', message: "Unknown argument '--bogus'" })
  t.same(readAnswer(out('', 1, '\n/opt/bolt/cli.rb:1: boom (NoMethodError)\n\tfrom x\n')),
    { ok: false, kind: 'bolt-stream/bolt-failed', message: 'Bolt exited with code 1: /opt/bolt/cli.rb:1: boom (NoMethodError)' })
  t.same(readAnswer(out('{"count"', null, '', 'SIGKILL')), { ok: false, kind: 'bolt-stream/bolt-killed', message: 'Bolt was ended by SIGKILL' })
  t.equal((readAnswer(out('')) as { kind: string }).kind, 'bolt-stream/invalid-document')
  t.equal((readAnswer(out('[1,2]')) as { kind: string }).kind, 'bolt-stream/invalid-document')
  const long = readAnswer(out('x'.repeat(5000), 1)) as { message: string }
  t.equal(long.message.length, 2001, 'long messages are cut')
})
