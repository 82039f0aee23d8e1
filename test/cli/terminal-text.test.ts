import t from 'tap'
import { painter, stripControls } from '../../cli/terminal-text.js'

t.test('stripControls removes what could drive a terminal, keeps text, tabs and newlines', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['\u001b[2J\u001b[Hclear', 'clear', 'CSI: clear screen, cursor home'],
    ['\u001b[31mred\u001b[0m', 'red', 'SGR colours'],
    ['\u001b]0;title\u0007text', 'text', 'OSC ended by BEL'],
    ['\u001b]8;;http://x\u001b\\link\u001b]8;;\u001b\\', 'link', 'OSC 8 hyperlink ended by ST'],
    ['\u001bPq#0;2;0;0;0\u001b\\after', 'after', 'DCS (sixel) ended by ST'],
    ['\u009b2Jc1', 'c1', '8-bit CSI'],
    ['a\rb\bc\u0007d\u0000e\u007f', 'abcde', 'CR, BS, BEL, NUL, DEL'],
    ['\u001bcreset', 'reset', 'RIS'],
    ['tab\there\nnext 😀 é', 'tab\there\nnext 😀 é', 'tabs, newlines and any printable text kept']
  ]
  for (const [input, expected, what] of cases) t.equal(stripControls(input), expected, what)
})

t.test('painter: codes only when on', async (t) => {
  t.equal(painter(true)('green', 'ok'), '\u001b[32mok\u001b[39m')
  t.equal(painter(false)('green', 'ok'), 'ok')
})
