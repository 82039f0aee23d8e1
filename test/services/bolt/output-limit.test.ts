import t from 'tap'
import { OutputBudget, cutUtf8 } from '../../../services/bolt/output-limit.js'

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8')

/** The reference answer: the longest prefix of whole code points whose UTF-8 fits. */
function longestFittingPrefix (text: string, max: number): string {
  let out = ''
  for (const ch of text) {
    if (bytes(out + ch) > max) break
    out += ch
  }
  return out
}

const SAMPLES: Array<[string, string]> = [
  ['ascii', 'hello, world'],
  ['2-byte', 'é' + 'ñü' + 'ß'],
  ['3-byte', '€漢字テスト'],
  ['4-byte emoji', '😀🎉👍🏽'],
  ['mixed', 'a€😀é\nb漢🎉ß z'],
  ['emoji ZWJ sequence', 'x👩‍👩‍👧y']
]

t.test('cutUtf8 never splits a character, at every max', async (t) => {
  for (const [name, text] of SAMPLES) {
    const full = bytes(text)
    let bad: string | null = null
    for (let max = 0; max <= full + 2 && bad === null; max++) {
      const cut = cutUtf8(text, max)
      const expected = longestFittingPrefix(text, max)
      if (!text.startsWith(cut)) bad = `max ${max}: not a prefix`
      else if (bytes(cut) > max) bad = `max ${max}: ${bytes(cut)} bytes`
      else if (cut !== expected) bad = `max ${max}: got ${JSON.stringify(cut)}, want ${JSON.stringify(expected)}`
      else if (cut.includes('\ufffd')) bad = `max ${max}: replacement character`
      else if (/[\ud800-\udbff]$/.test(cut)) bad = `max ${max}: ends in a high surrogate`
    }
    t.equal(bad, null, `${name}: every max from 0 to ${full + 2}`)
    t.equal(cutUtf8(text, full), text, `${name}: max = byte length keeps everything`)
    t.equal(cutUtf8(text, full - 1).length < text.length, true, `${name}: one byte less drops something`)
  }
})

t.test('cutUtf8 specific cuts', async (t) => {
  t.equal(cutUtf8('abc', 0), '')
  t.equal(cutUtf8('abc', -5), '')
  t.equal(cutUtf8('abc', 2), 'ab')
  t.equal(cutUtf8('é', 1), '', 'a 2-byte char does not fit in 1')
  t.equal(cutUtf8('aé', 2), 'a')
  t.equal(cutUtf8('€', 2), '', 'a 3-byte char does not fit in 2')
  t.equal(cutUtf8('a€', 4), 'a€')
  t.equal(cutUtf8('😀', 3), '', 'a 4-byte char does not fit in 3')
  t.equal(cutUtf8('😀😀', 7), '😀')
  t.equal(cutUtf8('😀😀', 8), '😀😀')
  t.equal(cutUtf8('', 10), '')
  // Long enough to skip the fast path.
  const long = '€'.repeat(1000)
  t.equal(cutUtf8(long, 2999), '€'.repeat(999))
  t.equal(cutUtf8(long, 3000), long)
  t.equal(cutUtf8(long, 1), '')
})

t.test('OutputBudget: exact cut at the limit across calls', async (t) => {
  const budget = new OutputBudget(10)
  t.equal(budget.maxBytes, 10)
  t.same(budget.take('abcd'), { text: 'abcd', crossed: false })
  t.equal(budget.usedBytes, 4)
  t.equal(budget.exhausted, false)
  t.same(budget.take('efgh'), { text: 'efgh', crossed: false })
  t.equal(budget.usedBytes, 8)
  t.same(budget.take('ijklmn'), { text: 'ij', crossed: true }, 'cut at exactly 10 bytes')
  t.equal(budget.usedBytes, 10)
  t.equal(budget.exhausted, true)
  t.same(budget.take('more'), { text: '', crossed: false }, 'afterwards: nothing, and not crossed again')
  t.same(budget.take('x'), { text: '', crossed: false })
  t.same(budget.take(''), { text: '', crossed: false })
  t.equal(budget.usedBytes, 10)
  t.equal(budget.exhausted, true)
})

t.test('OutputBudget: crossed exactly once over many calls', async (t) => {
  const budget = new OutputBudget(1000)
  let kept = ''
  let crossings = 0
  const input: string[] = []
  for (let i = 0; i < 300; i++) input.push(`line ${i} é😀\n`)
  for (const chunk of input) {
    const r = budget.take(chunk)
    kept += r.text
    if (r.crossed) crossings++
  }
  t.equal(crossings, 1)
  t.equal(kept, longestFittingPrefix(input.join(''), 1000), 'kept text is the longest fitting prefix of all input')
  t.ok(bytes(kept) <= 1000)
  t.equal(budget.usedBytes, bytes(kept))
  t.equal(budget.exhausted, true)
})

t.test('OutputBudget: multi-byte chars at the boundary', async (t) => {
  const budget = new OutputBudget(5)
  t.same(budget.take('ab'), { text: 'ab', crossed: false })
  t.same(budget.take('😀'), { text: '', crossed: true }, 'a 4-byte char does not fit in the 3 left')
  t.equal(budget.usedBytes, 2)
  t.equal(budget.exhausted, true)
  t.same(budget.take('c'), { text: '', crossed: false }, 'once exhausted nothing more, even if it would fit')
})

t.test('OutputBudget: filling exactly is not crossing', async (t) => {
  const budget = new OutputBudget(4)
  t.same(budget.take('€a'), { text: '€a', crossed: false })
  t.equal(budget.exhausted, false)
  t.same(budget.take(''), { text: '', crossed: false })
  t.same(budget.take('b'), { text: '', crossed: true }, 'the first byte beyond the limit crosses it')
  t.equal(budget.exhausted, true)
  t.same(budget.take('c'), { text: '', crossed: false })
})
