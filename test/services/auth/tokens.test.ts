import { createHash } from 'node:crypto'
import t from 'tap'
import { Authenticator, parseTokenList, TokenListError } from '../../../services/auth/tokens.js'

const hex = (token: string) => createHash('sha256').update(token).digest('hex')

t.test('token lines: name, scopes and the SHA-256; comments, blank lines and ; separators', async (t) => {
  const entries = parseTokenList(`# operators\nalice read,execute,expert ${hex('a-token')}\r\n\n  ci-bot.1  execute,read ${hex('b').toUpperCase()}  ;viewer read ${hex('c')}`, 'AUTH_TOKENS')
  t.same(entries.map((e) => [e.name, e.scopes]), [['alice', ['read', 'execute', 'expert']], ['ci-bot.1', ['execute', 'read']], ['viewer', ['read']]])
  t.same(entries[0].hash, createHash('sha256').update('a-token').digest(), 'kept as bytes of the hash')
  t.same(parseTokenList(`x read,read ${hex('x')}`, 'S')[0].scopes, ['read'], 'a repeated scope counts once')
})

t.test('bad token lines are refused, naming the entry and never echoing the hash', async (t) => {
  const h = hex('secret')
  const cases: Array<[string, RegExp]> = [
    ['alice read', /AUTH_TOKENS entry 1 must be "name scope1,scope2 sha256-hex" \(found 2 fields\)/],
    [`alice read ${h} extra`, /found 4 fields/],
    [`-alice read ${h}`, /the name "-alice" must be/],
    [`alice admin ${h}`, /entry 1 \(alice\): unknown scope "admin"; scopes are read, execute, expert/],
    [`alice read, ${h}`, /unknown scope ""/],
    ['alice read my-plain-token', /must be the 64-hex-digit SHA-256 of the token, not the token itself/],
    [`alice read ${h.slice(1)}`, /64-hex-digit/],
    [`# c\n\nbob read ${h}zz`, /AUTH_TOKENS entry 3/]
  ]
  for (const [text, message] of cases) {
    let err: Error | undefined
    try { parseTokenList(text, 'AUTH_TOKENS') } catch (e) { err = e as Error }
    t.ok(err instanceof TokenListError, JSON.stringify(text.slice(0, 30)))
    if (err === undefined) continue
    t.match(err.message, message)
    t.notOk(err.message.includes(h.slice(0, 16)), 'the hash is not echoed')
  }
})

t.test('duplicate names or tokens are refused', async (t) => {
  t.throws(() => new Authenticator(parseTokenList(`a read ${hex('1')};a execute ${hex('2')}`, 'S')), /name "a" is used twice/)
  t.throws(() => new Authenticator(parseTokenList(`a read ${hex('1')};b execute ${hex('1')}`, 'S')), /token of "b" is also another name's token/)
})

t.test('the authenticator finds the token by its hash; anything else is missing, malformed or invalid', async (t) => {
  const auth = new Authenticator(parseTokenList(`alice read,expert ${hex('tok-alice')};bob execute ${hex('tok-bob')}`, 'S'))
  t.notOk(auth.open)
  const alice = auth.authenticate('Bearer tok-alice')
  t.ok(alice.ok)
  if (alice.ok) {
    t.equal(alice.principal.name, 'alice')
    t.same([...alice.principal.scopes], ['read', 'expert'])
  }
  const bob = auth.authenticate('bearer   tok-bob')
  t.equal(bob.ok && bob.principal.name, 'bob', 'the scheme is case-insensitive; spaces before the token allowed')
  t.same(auth.authenticate(undefined), { ok: false, reason: 'missing' })
  t.same(auth.authenticate(''), { ok: false, reason: 'missing' })
  t.same(auth.authenticate('Bearer tok-alicE'), { ok: false, reason: 'invalid' })
  t.same(auth.authenticate('Bearer tok-alice2'), { ok: false, reason: 'invalid' })
  t.same(auth.authenticate('Basic dG9r'), { ok: false, reason: 'malformed' })
  t.same(auth.authenticate('Bearer tok alice'), { ok: false, reason: 'malformed' })
  t.same(auth.authenticate('tok-alice'), { ok: false, reason: 'malformed' })
  t.same(auth.authenticate('Bearer tök'), { ok: false, reason: 'malformed' }, 'non-ASCII is not a token')
})

t.test('open mode: no tokens, everyone anonymous with every scope', async (t) => {
  const auth = new Authenticator([])
  t.ok(auth.open)
  const who = auth.authenticate(undefined)
  t.ok(who.ok)
  if (who.ok) {
    t.equal(who.principal.name, null)
    t.same([...who.principal.scopes].sort(), ['execute', 'expert', 'read'])
  }
})
