import t from 'tap'
import { segments, plainText } from '../../ui/src/lib/ansi.js'
import { BOLT_TARGET, OutputLog } from '../../ui/src/lib/output-log.js'

// The viewer's output model and ANSI reading, as plain modules (the browser tests show them rendered).

t.test('live chunks become lines; a chunk without a newline is continued by the next of its target and stream', async (t) => {
  const log = new OutputLog()
  log.append('a', 'stdout', 'one\ntw')
  log.append('b', 'stdout', 'other\n')
  log.append('a', 'stderr', 'oops\n')
  log.append('a', 'stdout', 'o\nthree\n')
  log.append(null, 'stderr', 'Bolt says\n')
  t.same(log.lines.map((l) => [l.target, l.stream, l.text]), [
    ['a', 'stdout', 'one'], ['a', 'stdout', 'two'], ['b', 'stdout', 'other'], ['a', 'stderr', 'oops'],
    ['a', 'stdout', 'three'], [null, 'stderr', 'Bolt says']
  ])
  t.same([...log.targets], ['a', 'b'])
  t.ok(log.hasBoltLines)
  t.equal(log.select({ target: '', stream: '' }), null, 'no filter: every line, no index list')
  t.same(log.select({ target: 'a', stream: '' }), [0, 1, 3, 4])
  t.same(log.select({ target: '', stream: 'stderr' }), [3, 5])
  t.same(log.select({ target: BOLT_TARGET, stream: '' }), [5])
  t.equal(log.text([0, 5]), '[a] one\n[bolt] Bolt says\n')
})

t.test('the results replace the live lines per target, where they have the text', async (t) => {
  const log = new OutputLog()
  log.append(null, 'stderr', 'warning from Bolt\n')
  log.append('a', 'stdout', 'part1-\npart2\n')
  log.append('b', 'stdout', 'live b\n')
  log.append('b', 'stderr', 'live b err\n')
  log.append('c', 'stdout', 'live c\n')
  log.append('d', 'stderr', 'task err\n')
  log.replaceWithResults([
    { target: 'a', status: 'success', stdout: 'part1-part2\n\nend', stderr: '' },
    { target: 'b', status: 'failed', stdout: 'cut', stderr: 'cut', outputTruncated: true },
    { target: 'c', status: 'success' },
    { target: 'd', status: 'success', stdout: 'task out\n', stderr: 'task err\n', liveOutput: ['stderr'] }
  ])
  t.same(log.lines.map((l) => [l.target, l.stream, l.text]), [
    [null, 'stderr', 'warning from Bolt'],
    ['a', 'stdout', 'part1-part2'], ['a', 'stdout', ''], ['a', 'stdout', 'end'],
    ['b', 'stdout', 'live b'], ['b', 'stderr', 'live b err'],
    ['c', 'stdout', 'live c'],
    ['d', 'stdout', 'task out'], ['d', 'stderr', 'task err']
  ], 'exact text where whole; live lines for a cut result, a result without text, a live-only stream')
  t.ok(log.exact)
})

t.test('ANSI: colours and styles as segments, OSC dropped, controls shown, markup left as text', async (t) => {
  t.same(segments('plain <b>'), [{ text: 'plain <b>', fg: null, bg: null, classes: '' }])
  const coloured = segments('\u001b[1;31mred\u001b[0m ok')
  t.same(coloured.map((s) => [s.text, s.fg, s.classes]), [['red', '187, 0, 0', 'ansi-bold'], [' ok', null, '']])
  t.equal(plainText('\u001b]8;;javascript:x\u001b\\link\u001b]8;;\u001b\\'), 'link', 'OSC 8 dropped, its text kept')
  t.equal(plainText('\u001b]0;title\u0007after'), 'after')
  t.equal(segments('a\u0007b\u0008c')[0].text, 'a\u2407b\u2408c', 'BEL and backspace as control pictures')
  // eslint-disable-next-line no-control-regex
  t.notMatch(plainText('x\u001b[99;99;99Zy\u001b'), /\u001b/, 'no raw ESC is ever shown')
  t.equal(segments('tab\there')[0].text, 'tab\there')
})
