import assert from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { build, until, waitFinished } from '../helper.js'
import { EXECUTION_STATUSES, EXECUTION_TYPES } from '../../schemas/index.js'
import { PACKAGE_ACTIONS } from '../../schemas/index.js'

// Property-based hostile input. Every generated request is INVALID BY CONSTRUCTION: a valid base
// (body or querystring) with one or more mutations that each make it invalid on their own, or a
// request whose transport is broken (media type, JSON syntax, size) or whose execution id cannot
// exist (the app of this file never accepts a request, so its store stays empty). The oracle:
// a 4xx with a JSON `{error: {code, message}}` body, and, at the end of the file, zero Bolt runs
// seen by the stand-in (a real child process) and no execution recorded.
//
// Fixed seed, so a failure is reproducible: fast-check prints the counterexample and its path.

const SEED = 20250417
const RUNS = {
  /** Per POST route: JSON bodies with field mutations. */
  fields: 250,
  /** Per POST route: media types, malformed JSON, non-object JSON, prototype keys, > 64 KiB. */
  transport: 100,
  /** GET /api/executions with a bad querystring. */
  list: 200,
  /** GET /api/executions/:id and /:id/stream with ids that cannot be found. */
  ids: 200
}

const ERROR_CODE = /^BOLT_STREAM_[A-Z_]+$/
const JSON_TYPE = /^application\/json(?:\s*;|$)/
const UUID_FORMAT = /^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/i
const BODY_LIMIT = 64 * 1024

// ---------------------------------------------------------------------------------------------
// Requests and the oracle

interface HostileRequest {
  /** What makes it invalid (for the counterexample). */
  label: string
  method: 'GET' | 'POST'
  url: string
  headers: Record<string, string>
  payload?: string
  /** Expected status, when the category fixes it; otherwise any 4xx. */
  status?: number
  /** Expected codes, when the category fixes them. */
  codes?: string[]
}

const { app, spawns } = await build(t)

let sent = 0
const perCategory = new Map<string, number>()

/** Sends the request and asserts the refusal contract; throws (for fast-check) when it is broken. */
async function expectRefused (req: HostileRequest): Promise<void> {
  sent++
  const category = req.label.split(':')[0]
  perCategory.set(category, (perCategory.get(category) ?? 0) + 1)
  const res = await app.inject({ method: req.method, url: req.url, headers: req.headers, payload: req.payload })
  const what = `${req.method} ${req.url.slice(0, 160)} (${req.label.slice(0, 200)}) answered ${res.statusCode} ${String(res.headers['content-type'])}: ${res.body.slice(0, 300)}`
  assert.ok(res.statusCode >= 400 && res.statusCode < 500, `not a 4xx: ${what}`)
  if (req.status !== undefined) assert.equal(res.statusCode, req.status, `not a ${req.status}: ${what}`)
  assert.match(String(res.headers['content-type']), JSON_TYPE, `not application/json: ${what}`)
  assert.equal(res.headers.location, undefined, `a Location header: ${what}`)
  let body: unknown
  try {
    body = JSON.parse(res.body)
  } catch {
    assert.fail(`body is not JSON: ${what}`)
  }
  assert.ok(body !== null && typeof body === 'object' && !Array.isArray(body), `body is not an object: ${what}`)
  assert.deepEqual(Object.keys(body), ['error'], `body is not exactly {error}: ${what}`)
  const error = (body as { error: unknown }).error
  assert.ok(error !== null && typeof error === 'object' && !Array.isArray(error), `error is not an object: ${what}`)
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message'], `error is not exactly {code, message}: ${what}`)
  const { code, message } = error as { code: unknown, message: unknown }
  assert.ok(typeof code === 'string' && ERROR_CODE.test(code), `bad error code: ${what}`)
  assert.ok(typeof message === 'string' && message.length > 0, `empty or non-string message: ${what}`)
  if (req.codes !== undefined) assert.ok(req.codes.includes(code), `code ${code} is not one of ${req.codes.join(', ')}: ${what}`)
}

const runProperty = (arb: fc.Arbitrary<HostileRequest>, numRuns: number) =>
  fc.assert(fc.asyncProperty(arb, expectRefused), { numRuns, seed: SEED })

// ---------------------------------------------------------------------------------------------
// Bodies as ordered entries, serialized by hand: `__proto__` keys, NaN and trailing commas
// cannot go through JSON.stringify.

/** JSON text inserted as is. */
class Raw {
  constructor (readonly text: string) {}
}

type Entries = Array<[string, unknown]>

function ser (value: unknown): string {
  if (value instanceof Raw) return value.text
  const text = JSON.stringify(value)
  if (text === undefined) throw new Error(`not serializable: ${String(value)}`)
  return text
}

const objectText = (entries: Entries): string =>
  '{' + entries.map(([k, v]) => JSON.stringify(k) + ':' + ser(v)).join(',') + '}'

interface Mutation {
  label: string
  apply: (entries: Entries) => Entries
}

const describe = (value: unknown): string => {
  const text = value instanceof Raw ? value.text : (JSON.stringify(value) ?? String(value))
  return text.length > 60 ? `${text.slice(0, 40)}…(${text.length} chars)` : text
}

/** Replaces (or adds) `key` with a value that is invalid for it. */
const setTo = (key: string, why: string) => (value: unknown): Mutation => ({
  label: `${key} ${why} ${describe(value)}`,
  apply: (entries) => [...entries.filter(([k]) => k !== key), [key, value]]
})

/** Removes a REQUIRED key (removing an optional one could make the body valid). */
const drop = (key: string): Mutation => ({
  label: `missing ${key}`,
  apply: (entries) => entries.filter(([k]) => k !== key)
})

// ---------------------------------------------------------------------------------------------
// Valid values (the bases)

const validTarget = fc.oneof(
  fc.constantFrom('web1', 'db-2.example.com', 'ssh://root@web3:22', 'ssh://[::1]:22', '10.0.0.1', 'winrm://Administrator@win1:5986', 'WEB_01', 'web1:65535'),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/)
)
const validTargets = fc.array(validTarget, { minLength: 1, maxLength: 4 })
const validCommand = fc.oneof(
  // Unicode, CR LF and U+2028 are fine in a command: only a leading -/@ and NUL are refused.
  fc.constantFrom('uptime', 'echo hi', 'ls -la /tmp', 'echo "héllo 😀"\r\necho two', 'printf "a\u2028b"', ' -leading-space-is-fine'),
  fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/^[-@]/.test(s) && !s.includes('\u0000'))
)
const validTask = fc.oneof(
  fc.constantFrom('demo::info', 'demo::echo', 'facts', 'package', 'service::restart'),
  fc.stringMatching(/^[a-z][a-z0-9_]{0,8}(?:::[a-z][a-z0-9_]{0,8}){0,2}$/)
)
const validParamName = fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/)
const anyJson = fc.jsonValue({ maxDepth: 2 })
const validParams = fc.dictionary(validParamName, anyJson, { maxKeys: 3 })
const validEnvironment = fc.stringMatching(/^[a-z0-9_]{1,20}$/)
const validTag = fc.stringMatching(/^[a-z0-9_][a-z0-9_:.-]{0,15}$/)
const validPackageToken = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.+:~-]{0,20}$/)

// ---------------------------------------------------------------------------------------------
// Invalid values

const notString = anyJson.filter((v) => typeof v !== 'string')
const notArray = anyJson.filter((v) => !Array.isArray(v))
const notBoolean = anyJson.filter((v) => typeof v !== 'boolean')
const notObject = anyJson.filter((v) => v === null || typeof v !== 'object' || Array.isArray(v))

/** Never allowed in any of the route patterns (they are ASCII-only and have no such character). */
const NEVER = [
  ' ', ',', '*', '?', '{', '}', '!', '$', '%', '&', ';', '|', '`', "'", '"', '\\', '(', ')', '<', '>', '=', '^', '#',
  '\t', '\n', '\r', '\r\n', '\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\u00a0', '\u2028', '\u2029',
  '\u200b', '\u200f', '\u202e', '\ufeff', 'é', 'ü', 'Ж', '中', '😀', '𝕏', '\u212a' /* Kelvin sign */
]
const neverChar = fc.oneof(
  fc.constantFrom(...NEVER),
  fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x80, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff).map((c) => String.fromCodePoint(c))
)
const upper = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ')
const oneOfChars = (chars: string) => fc.constantFrom(...chars)

/** Inserts `chunk` at a random position of `base` (the bases are ASCII). */
const insertInto = (base: fc.Arbitrary<string>, chunk: fc.Arbitrary<string>) =>
  fc.tuple(base, chunk, fc.nat()).map(([b, c, i]) => {
    const at = i % (b.length + 1)
    return b.slice(0, at) + c + b.slice(at)
  })
const prefixed = (prefixes: string[], base: fc.Arbitrary<string>) =>
  fc.tuple(fc.constantFrom(...prefixes), base).map(([p, b]) => p + b)
const suffixed = (base: fc.Arbitrary<string>, suffixes: string[]) =>
  fc.tuple(base, fc.constantFrom(...suffixes)).map(([b, s]) => b + s)
const ascii = (min: number, max: number, ch = 'a') => fc.integer({ min, max }).map((n) => ch.repeat(n))

const badTarget = fc.oneof(
  fc.constantFrom(
    '-x', '--help', '@/etc/passwd', '-', 'a,b', 'a b', 'web*', 'web?', 'web[1]', '{a,b}', ' web1', 'web1 ', '\tweb1',
    'web1\n', '', '.', '..', '../etc/passwd', '$(id)', '`id`', 'a;b', 'a|b', 'ssh://', ':22', 'user@', 'http://-x',
    '[zz]', '[a]', '~root', 'a\u0000b', 'a\r\nb', 'a\u2028b', 'web😀', '\u202eweb1', 'web1\u200f', 'wéb1',
    '-oProxyCommand=id', '--run-as=root', '@targets.txt', '*',
    // A bare bracketed IPv6 host (Bolt would read a glob); ports outside 1–65535.
    '[::1]', '[::1]:22', 'root@[::1]', '[fe80::1%eth0]', 'web1:0', 'web1:65536', 'web1:99999', 'ssh://web1:0'
  ),
  insertInto(validTarget, fc.oneof(neverChar, fc.constant('~'))),
  prefixed(['-', '--', '@', ' ', '\u200f'], validTarget),
  suffixed(validTarget, [' ', '\n', '\r\n', '\u0000', ',web2', '*']),
  ascii(301, 400) // longer than MAX_TARGET_LENGTH
)

const badCommand = fc.oneof(
  fc.constantFrom('', '-', '--', '-rf /', '--help', '@/etc/passwd', '@', '-\u0000', 'echo a\u0000b', '\u0000'),
  prefixed(['-', '--', '@', '-@', '@-'], fc.string({ unit: 'binary', maxLength: 30 })),
  insertInto(validCommand.filter((c) => c.length < 60), fc.constant('\u0000')),
  fc.integer({ min: 8189, max: 9000 }).map((n) => 'echo ' + 'x'.repeat(n)) // > MAX_COMMAND_LENGTH (8192)
)

const taskForbidden = fc.oneof(neverChar, upper, oneOfChars('~.-/@+[]'))
const badTask = fc.oneof(
  fc.constantFrom(
    '', '..', 'demo::..', '../etc/passwd', 'demo/../x', 'Demo::Info', 'demo::Info', 'DEMO', '::demo', 'demo::', 'demo:::info',
    'demo:info', 'demo::::info', 'demo::1x', 'demo::_x', '_demo', '1demo', '-x', '@file', 'demo::info ', ' demo', ':', '::'
  ),
  insertInto(validTask, taskForbidden),
  insertInto(validTask, fc.constant('..')),
  prefixed(['::', ':', '_', '0', '-', '@', 'A'], validTask),
  // `::` misuse: an empty segment, a lone `:`, a segment that does not start with a letter
  suffixed(validTask, ['::', ':', ':::x', ':x', '::::x', '::9x', '::_x', '::Ax', ':: x', '::x::']),
  ascii(257, 300) // longer than 256
)

const paramForbidden = fc.oneof(neverChar, upper, oneOfChars('~.-/@+[]:'))
const badParamName = fc.oneof(
  fc.constantFrom('', '_run_as', '_noop', '_catch_errors', '_', 'Name', 'NAME', '1x', '-x', 'a-b', 'a.b', 'a:b', 'a b', '$x', '__proto', '@x'),
  prefixed(['_', '__', '0', '9'], validParamName),
  fc.tuple(upper, validParamName).map(([u, n]) => u + n),
  insertInto(validParamName, paramForbidden)
)

const badEnvironment = fc.oneof(
  fc.constantFrom('', 'Prod', 'PRODUCTION', 'a b', '-x', 'prod;id', '../x', 'prod\n', 'production ', ' production', 'prod-1', 'prod.1', 'prod/x', '--noop'),
  insertInto(validEnvironment, paramForbidden),
  ascii(129, 200) // longer than 128
)

const tagForbidden = fc.oneof(neverChar, upper, oneOfChars('~/@+[]'))
const badTag = fc.oneof(
  fc.constantFrom('', '-x', '.x', ':x', 'a b', 'a,b', 'Web', '--noop', '@x', 'x/y', 'tag\n', '\u0000'),
  insertInto(validTag, tagForbidden),
  prefixed(['-', '.', ':'], validTag),
  ascii(257, 300) // longer than 256
)

const packageForbidden = fc.oneof(neverChar, oneOfChars('/@[]'))
const badPackageToken = fc.oneof(
  fc.constantFrom('', '-rf', '.x', '_x', '+x', ':x', '~x', '@file', 'a;b', 'a b', 'a/b', 'a@1', '../x', '--force', 'curl\n', 'cürl', '*', 'curl*'),
  insertInto(validPackageToken, packageForbidden),
  prefixed(['-', '--', '.', '_', '+', ':', '~', '@', ' '], validPackageToken),
  ascii(257, 300) // longer than 256
)

const badAction = fc.oneof(
  fc.constantFrom('purge', 'Install', 'INSTALL', ' install', 'install ', '', 'install\u0000', 'remove', 'latest', 'install,uninstall'),
  fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !(PACKAGE_ACTIONS as readonly string[]).includes(s))
)

/** Inserts `element` into a valid array at a random position. */
const withElement = <T>(valid: fc.Arbitrary<T[]>, element: fc.Arbitrary<unknown>) =>
  fc.tuple(valid, element, fc.nat()).map(([list, el, i]) => {
    const at = i % (list.length + 1)
    return [...list.slice(0, at), el, ...list.slice(at)]
  })

// ---------------------------------------------------------------------------------------------
// Mutations every POST route shares

const targetMutations: Array<fc.Arbitrary<Mutation>> = [
  notArray.map(setTo('targets', 'not an array')),
  fc.constant(setTo('targets', 'empty')([])),
  fc.array(validTarget, { minLength: 101, maxLength: 130 }).map(setTo('targets', 'over 100 names')),
  withElement(validTargets, badTarget).map(setTo('targets', 'with a bad name')),
  withElement(validTargets, notString).map(setTo('targets', 'with a non-string'))
]

const commonMutations = (allowed: string[]): Array<fc.Arbitrary<Mutation>> => [
  ...targetMutations,
  fc.constant(drop('targets')),
  notBoolean.map(setTo('expertMode', 'not a boolean')),
  fc.tuple(
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.constantFrom('constructor', 'prototype', 'toString', 'hasOwnProperty', 'Targets', 'targets ', 'task', 'command', 'name', 'noop', 'params', 'pad')
    ).filter((k) => !allowed.includes(k)),
    anyJson
  ).map(([key, value]) => setTo(key, 'extra field')(value))
]

interface RouteSpec {
  url: string
  allowed: string[]
  base: fc.Arbitrary<Entries>
  mutations: Array<fc.Arbitrary<Mutation>>
}

const entriesOf = (arb: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Entries> => arb.map((r) => Object.entries(r))

const ROUTES: RouteSpec[] = [
  {
    url: '/api/commands',
    allowed: ['targets', 'command', 'expertMode'],
    base: entriesOf(fc.record({ targets: validTargets, command: validCommand, expertMode: fc.boolean() }, { requiredKeys: ['targets', 'command'] })),
    mutations: [
      notString.map(setTo('command', 'not a string')),
      badCommand.map(setTo('command', 'bad')),
      fc.constant(drop('command'))
    ]
  },
  {
    url: '/api/tasks',
    allowed: ['targets', 'task', 'params', 'expertMode'],
    base: entriesOf(fc.record({ targets: validTargets, task: validTask, params: validParams, expertMode: fc.boolean() }, { requiredKeys: ['targets', 'task'] })),
    mutations: [
      notString.map(setTo('task', 'not a string')),
      badTask.map(setTo('task', 'bad')),
      fc.constant(drop('task')),
      notObject.map(setTo('params', 'not an object')),
      fc.tuple(validParams, badParamName, anyJson)
        .map(([params, key, value]) => setTo('params', 'with a bad name')(new Raw(objectText([...Object.entries(params), [key, value]])))),
      // Nested beyond 64 levels, up to what 64 KiB can hold: refused, never a stack overflow.
      fc.tuple(fc.integer({ min: 64, max: 27_000 }), fc.boolean()).map(([depth, objects]) => {
        const levels = objects ? Math.min(depth, 9000) : depth
        const text = objects ? `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}` : `{"a":${'['.repeat(levels)}${']'.repeat(levels)}}`
        return setTo('params', `nested ${levels} deep in ${objects ? 'objects' : 'arrays'}`)(new Raw(text))
      }),
      fc.tuple(validParams, fc.constantFrom(
        '"__proto__":{"polluted":true}', '"__proto__":null', '"\\u005f_proto__":{"polluted":true}',
        '"constructor":{"prototype":{"polluted":true}}', '"\\u0063onstructor":{"prototype":{"polluted":true}}'
      )).map(([params, poison]) => {
        const inner = objectText(Object.entries(params)).slice(1, -1)
        return setTo('params', 'with a prototype key')(new Raw(`{${inner.length > 0 ? inner + ',' : ''}${poison}}`))
      })
    ]
  },
  {
    url: '/api/puppet-runs',
    allowed: ['targets', 'noop', 'environment', 'tags', 'expertMode'],
    base: entriesOf(fc.record({
      targets: validTargets, noop: fc.boolean(), environment: validEnvironment, tags: fc.array(validTag, { maxLength: 5 }), expertMode: fc.boolean()
    }, { requiredKeys: ['targets'] })),
    mutations: [
      notBoolean.map(setTo('noop', 'not a boolean')),
      notString.map(setTo('environment', 'not a string')),
      badEnvironment.map(setTo('environment', 'bad')),
      notArray.map(setTo('tags', 'not an array')),
      fc.array(validTag, { minLength: 51, maxLength: 70 }).map(setTo('tags', 'over 50 tags')),
      withElement(fc.array(validTag, { maxLength: 5 }), badTag).map(setTo('tags', 'with a bad tag')),
      withElement(fc.array(validTag, { maxLength: 5 }), notString).map(setTo('tags', 'with a non-string'))
    ]
  },
  {
    url: '/api/packages',
    allowed: ['targets', 'name', 'action', 'version', 'expertMode'],
    base: entriesOf(fc.record({
      targets: validTargets, name: validPackageToken, action: fc.constantFrom(...PACKAGE_ACTIONS), version: validPackageToken, expertMode: fc.boolean()
    }, { requiredKeys: ['targets', 'name'] })),
    mutations: [
      notString.map(setTo('name', 'not a string')),
      badPackageToken.map(setTo('name', 'bad')),
      fc.constant(drop('name')),
      notString.map(setTo('action', 'not a string')),
      badAction.map(setTo('action', 'not an action')),
      notString.map(setTo('version', 'not a string')),
      badPackageToken.map(setTo('version', 'bad'))
    ]
  }
]

/** JSON bodies: a valid base and one to three mutations, each invalid on its own. */
function fieldRequests (route: RouteSpec): fc.Arbitrary<HostileRequest> {
  // The route's own fields weigh more: the shared mutations are many and the same everywhere.
  const mutation = fc.oneof(
    ...route.mutations.map((arbitrary) => ({ arbitrary, weight: 3 })),
    ...commonMutations(route.allowed).map((arbitrary) => ({ arbitrary, weight: 1 }))
  )
  return fc.tuple(route.base, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([base, mutations]) => ({
    label: `fields: ${mutations.map((m) => m.label).join(' + ')}`,
    method: 'POST',
    url: route.url,
    headers: { 'content-type': 'application/json' },
    payload: objectText(mutations.reduce((entries, m) => m.apply(entries), base)),
    status: 400,
    // INVALID_INPUT and PARAMS_TOO_DEEP: a bad task parameter name or too deep params pass the
    // schema and are refused by the argument builder (services/bolt/arguments.ts).
    codes: ['BOLT_STREAM_VALIDATION_FAILED', 'BOLT_STREAM_INVALID_JSON', 'BOLT_STREAM_INVALID_INPUT',
      'BOLT_STREAM_PROTOTYPE_KEY', 'BOLT_STREAM_PARAMS_TOO_DEEP']
  }))
}

// ---------------------------------------------------------------------------------------------
// Transport-level hostility, on valid bases (and mutated ones)

const WRONG_MEDIA_TYPES = [
  'text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=----hostile',
  'application/xml', 'text/html', 'application/octet-stream', 'application/yaml', 'text/csv'
]

function bodyAs (contentType: string, entries: Entries): string {
  const flat = entries.map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : ser(v)])
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    return flat.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
  }
  if (contentType.startsWith('multipart/form-data')) {
    return flat.map(([k, v]) => `------hostile\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') + '------hostile--\r\n'
  }
  if (contentType === 'application/xml') {
    return `<request>${flat.map(([k, v]) => `<${k}>${v}</${k}>`).join('')}</request>`
  }
  return objectText(entries)
}

/** Malformed JSON made from a valid body's text. */
const MALFORMED: Array<[string, (text: string, entries: Entries) => string]> = [
  ['trailing comma', (text) => text.slice(0, -1) + ',}'],
  ['trailing comma in targets', (_text, entries) => objectText(entries.map(([k, v]) => [k, k === 'targets' ? new Raw(ser(v).slice(0, -1) + ',]') : v]))],
  ['single quotes', (text) => text.replace(/"/g, "'")],
  ['NaN value', (_text, entries) => objectText([...entries.filter(([k]) => k !== 'expertMode'), ['expertMode', new Raw('NaN')]])],
  ['Infinity value', (_text, entries) => objectText([...entries.filter(([k]) => k !== 'expertMode'), ['expertMode', new Raw('-Infinity')]])],
  ['undefined value', (_text, entries) => objectText([...entries.filter(([k]) => k !== 'expertMode'), ['expertMode', new Raw('undefined')]])],
  ['NaN in targets', (_text, entries) => objectText(entries.map(([k, v]) => [k, k === 'targets' ? new Raw('[NaN]') : v]))],
  ['hex number', (_text, entries) => objectText([...entries, ['expertMode', new Raw('0x1')]])],
  ['unquoted keys', (text) => text.replace(/"(targets|command|task|name|noop|expertMode)":/g, '$1:')],
  ['a comment', (text) => '/* hi */' + text],
  ['a line comment', (text) => text + '// hi'],
  ['two documents', (text) => text + text],
  ['leading garbage', (text) => ")]}',\n" + text],
  ['trailing garbage', (text) => text + 'x'],
  ['missing closing brace', (text) => text.slice(0, -1)]
]

const NON_OBJECTS: Array<[string, (text: string) => string]> = [
  ['null', () => 'null'],
  ['true', () => 'true'],
  ['a number', () => '42'],
  ['a string', (text) => JSON.stringify(text)],
  ['an array of the body', (text) => `[${text}]`],
  ['an empty array', () => '[]']
]

const TOP_LEVEL_POISON = [
  '"__proto__":{"polluted":true}', '"__proto__":null', '"__proto__":1', '"\\u005f\\u005fproto__":{"polluted":true}',
  '"constructor":{"prototype":{"polluted":true}}', '"constructor":1', '"constructor":{}', '"prototype":{"polluted":true}',
  '"\\u0063onstructor":{"prototype":{"polluted":true}}'
]

function transportRequests (route: RouteSpec): fc.Arbitrary<HostileRequest> {
  const mutated = fc.tuple(route.base, fc.array(fc.oneof(...route.mutations, ...commonMutations(route.allowed)), { minLength: 1, maxLength: 2 }))
    .map(([base, ms]) => ms.reduce((entries, m) => m.apply(entries), base))
  const anyBody = fc.oneof(route.base, mutated)
  const post = (label: string, headers: Record<string, string>, payload: string | undefined, status?: number, codes?: string[]): HostileRequest =>
    ({ label, method: 'POST', url: route.url, headers, payload, status, codes })
  const json = { 'content-type': 'application/json' }
  return fc.oneof(
    // Wrong media types, on valid and invalid bodies alike.
    fc.tuple(anyBody, fc.constantFrom(...WRONG_MEDIA_TYPES)).map(([entries, type]) =>
      post(`media type: ${type}`, { 'content-type': type }, bodyAs(type, entries), 415, ['BOLT_STREAM_UNSUPPORTED_MEDIA_TYPE'])),
    route.base.map((entries) => post('media type: none', {}, objectText(entries), 415, ['BOLT_STREAM_UNSUPPORTED_MEDIA_TYPE'])),
    // Malformed JSON: any strict prefix of an object text, and the usual near-JSON mistakes.
    fc.tuple(route.base, fc.nat()).map(([entries, n]) => {
      const text = objectText(entries)
      const cut = n % text.length
      return post(`malformed JSON: truncated at ${cut} of ${text.length}`, json, text.slice(0, cut), 400, ['BOLT_STREAM_INVALID_JSON'])
    }),
    fc.tuple(route.base, fc.constantFrom(...MALFORMED)).map(([entries, [name, make]]) =>
      post(`malformed JSON: ${name}`, json, make(objectText(entries), entries), 400, ['BOLT_STREAM_INVALID_JSON'])),
    // JSON that is not an object.
    fc.tuple(route.base, fc.constantFrom(...NON_OBJECTS)).map(([entries, [name, make]]) =>
      post(`non-object JSON: ${name}`, json, make(objectText(entries)), 400, ['BOLT_STREAM_VALIDATION_FAILED'])),
    // Prototype keys, as raw text (JSON.stringify drops __proto__).
    fc.tuple(route.base, fc.constantFrom(...TOP_LEVEL_POISON), fc.boolean()).map(([entries, poison, first]) => {
      const inner = objectText(entries).slice(1, -1)
      // Valid JSON: told what is refused (a prototype key), or that the field is unknown, never "not JSON".
      return post(`prototype key: ${poison}`, json, first ? `{${poison},${inner}}` : `{${inner},${poison}}`, 400,
        ['BOLT_STREAM_PROTOTYPE_KEY', 'BOLT_STREAM_VALIDATION_FAILED'])
    }),
    // Over the 64 KiB body limit: whitespace padding (otherwise valid JSON) or a big field.
    fc.tuple(anyBody, fc.integer({ min: 1, max: 16 * 1024 })).map(([entries, extra]) => {
      const text = objectText(entries)
      const pad = ' '.repeat(BODY_LIMIT - text.length + extra)
      return post(`over 64 KiB: whitespace padding (${text.length + pad.length} bytes)`, json, `{${pad}${text.slice(1)}`, 413, ['BOLT_STREAM_BODY_TOO_LARGE'])
    }),
    fc.tuple(route.base, fc.integer({ min: 1, max: 16 * 1024 })).map(([entries, extra]) => {
      // On the task route a big params value is schema-valid: only the size is wrong.
      const key = route.url === '/api/tasks' ? 'params' : 'pad'
      const value = route.url === '/api/tasks' ? { blob: 'x'.repeat(BODY_LIMIT + extra) } : 'x'.repeat(BODY_LIMIT + extra)
      return post(`over 64 KiB: a big ${key}`, json, objectText([...entries.filter(([k]) => k !== key), [key, value]]), 413, ['BOLT_STREAM_BODY_TOO_LARGE'])
    })
  )
}

// ---------------------------------------------------------------------------------------------
// GET /api/executions with a bad querystring

const LIST_KEYS = ['status', 'type', 'target', 'since', 'until', 'limit', 'cursor']
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url')

const validQuery = entriesOf(fc.record({
  status: fc.constantFrom(...EXECUTION_STATUSES),
  type: fc.constantFrom(...EXECUTION_TYPES),
  target: validTarget,
  since: fc.constantFrom('2024-01-01T00:00:00Z', '2024-06-30T12:34:56.789+02:00'),
  until: fc.constantFrom('2030-01-01T00:00:00Z'),
  limit: fc.integer({ min: 1, max: 100 }).map(String)
}, { requiredKeys: [] }))

const badDate = fc.oneof(
  fc.constantFrom('', 'yesterday', '2024-13-01T00:00:00Z', '2024-01-01', '2024-01-01T25:00:00Z', '1700000000', '2016-12-31T23:59:60Z',
    '2024-01-01T00:00:00', '2024-02-30T00:00:00Z', '2024-01-01T00:00:00Z\n', ' 2024-01-01T00:00:00Z'),
  fc.string({ unit: 'binary', maxLength: 30 }).map((s) => 'x' + s)
)
const badLimit = fc.oneof(
  fc.constantFrom('0', '101', '-1', '1.5', 'abc', '', '1e3', '99999999999999999999', 'Infinity', 'NaN', 'true', '5abc', '\u0000'),
  fc.integer({ min: 101 }).map(String),
  fc.integer({ max: 0 }).map(String),
  fc.string({ unit: 'binary', maxLength: 10 }).map((s) => 'x' + s)
)
const badCursor = fc.oneof(
  fc.constant(''),
  ascii(201, 300, 'c'), // longer than 200
  fc.nat().map((n) => b64(`q:${n}`)),
  fc.constantFrom(b64('p:-1'), b64('p:1234567890123456'), b64('p:'), b64('p:1 '), b64('{"position":1}'))
)
const badEnum = (values: readonly string[]) => fc.oneof(
  fc.constantFrom('', 'RUNNING', 'running ', ' success', 'Task', 'all', '*', '\u0000'),
  fc.string({ unit: 'binary', maxLength: 16 })
).filter((s) => !values.includes(s))

const setQ = (key: string, why: string) => (value: string): Mutation => ({
  label: `${key} ${why} ${describe(value)}`,
  apply: (entries) => [...entries.filter(([k]) => k !== key), [key, value]]
})

const queryMutation: fc.Arbitrary<Mutation> = fc.oneof(
  badEnum(EXECUTION_STATUSES).map(setQ('status', 'not a status')),
  badEnum(EXECUTION_TYPES).map(setQ('type', 'not a type')),
  badTarget.map(setQ('target', 'bad')),
  badDate.map(setQ('since', 'not a date-time')),
  badDate.map(setQ('until', 'not a date-time')),
  badLimit.map(setQ('limit', 'out of range')),
  badCursor.map(setQ('cursor', 'not issued')),
  fc.tuple(fc.constantFrom('status', 'type', 'limit'), fc.constantFrom('running', 'task', '5'), fc.constantFrom('success', 'command', '6'))
    .map(([key, a, b]): Mutation => ({
      label: `${key} given twice`,
      apply: (entries) => [...entries.filter(([k]) => k !== key), [key, a], [key, b]]
    })),
  fc.tuple(
    fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'Limit', 'offset', 'id')),
    fc.string({ maxLength: 10 })
  ).filter(([k]) => !LIST_KEYS.includes(k)).map(([k, v]) => setQ(k, 'extra parameter')(v))
)

const listRequests: fc.Arbitrary<HostileRequest> = fc.tuple(validQuery, fc.array(queryMutation, { minLength: 1, maxLength: 3 }))
  .map(([base, mutations]) => {
    const entries = mutations.reduce((e, m) => m.apply(e), base)
    return {
      label: `query: ${mutations.map((m) => m.label).join(' + ')}`,
      method: 'GET',
      url: '/api/executions?' + entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&'),
      headers: {},
      status: 400,
      codes: ['BOLT_STREAM_VALIDATION_FAILED', 'BOLT_STREAM_INVALID_INPUT']
    }
  })

// ---------------------------------------------------------------------------------------------
// GET /api/executions/:id and /:id/stream: the store is empty, so no id can be found

/**
 * Ids up to 300 characters (the router refuses more than 100 with 414) and Accept values that
 * refuse text/event-stream (406) are included: both answer in the API's error shape. Raw,
 * badly percent-encoded paths are covered by framework-errors.test.ts.
 */
const MAX_ID_LENGTH = 300
const STREAM_ACCEPT = ['text/event-stream', '*/*', 'text/*', 'text/event-stream, application/json;q=0.5', 'application/json', '*/*, text/event-stream;q=0']
const RECORD_ACCEPT = ['application/json', 'text/event-stream', '*/*', 'text/html', 'application/xml']

const malformedId = fc.oneof(
  fc.constantFrom('.', '..', '-', '@/etc/passwd', '__proto__', 'constructor', 'prototype', 'null', 'undefined', '0', '-1', '%00',
    'a\u0000b', "' OR 1=1 --", '*', ' ', '\r\n', '\u2028', '😀', '\u202e'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 41, maxLength: MAX_ID_LENGTH, size: 'max' }),
  ascii(37, MAX_ID_LENGTH, 'f'),
  // Near misses of a UUID.
  fc.tuple(fc.uuid(), fc.nat(), fc.constantFrom('g', 'Z', '-', ' ', '\u0000', '😀', '')).map(([u, i, c]) => {
    const at = i % u.length
    return u.slice(0, at) + c + u.slice(at + 1)
  }),
  fc.tuple(fc.uuid(), fc.constantFrom(' ', '\n', 'x', '/..', '{', '}')).map(([u, c]) => u + c),
  fc.uuid().map((u) => `{${u}}`)
).filter((id) => id.length > 0 && !UUID_FORMAT.test(id))

const unknownId = fc.oneof(fc.uuid(), fc.uuid().map((u) => u.toUpperCase()), fc.uuid({ version: 4 }))

const malformedEventId = fc.oneof(
  fc.constantFrom('abc', '-1', '1.5', '1e3', '1 2', '\n1', '0x1', '9'.repeat(16), '+1', '1,2', '\u0000', 'é😀', '٣', '１', 'null', '1\r\n'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 })
).filter((s) => !/^[ \t]*(?:\d{1,15})?[ \t]*$/.test(s)) // blanks around a number are ignored

const idRequests: fc.Arbitrary<HostileRequest> = fc.record({
  id: fc.oneof(malformedId, unknownId),
  stream: fc.boolean(),
  lastEventId: fc.option(malformedEventId),
  lastEventIdQuery: fc.option(fc.oneof(malformedEventId, ascii(33, 60, '1'))),
  accept: fc.option(fc.nat())
}).filter(({ id }) => id.length <= MAX_ID_LENGTH).map(({ id, stream, lastEventId, lastEventIdQuery, accept }) => {
  const headers: Record<string, string> = {}
  const accepts = stream ? STREAM_ACCEPT : RECORD_ACCEPT
  if (accept !== null) headers.accept = accepts[accept % accepts.length]
  let url = `/api/executions/${encodeURIComponent(id)}`
  if (stream) {
    url += '/stream'
    if (lastEventId !== null) headers['last-event-id'] = lastEventId
    if (lastEventIdQuery !== null) url += `?lastEventId=${encodeURIComponent(lastEventIdQuery)}`
  }
  const kind = UUID_FORMAT.test(id) ? 'unknown id' : 'malformed id'
  return {
    label: `${stream ? 'stream' : 'record'}: ${kind} ${describe(id)}` +
      (stream ? ` Last-Event-ID ${describe(lastEventId)} ?lastEventId=${describe(lastEventIdQuery)}` : ''),
    method: 'GET',
    url,
    headers
  }
})

// ---------------------------------------------------------------------------------------------

t.test(`sanity (separate app): the oracle sees the Bolt run of a valid request (seed ${SEED})`, async (t) => {
  const { app: other, spawns: otherSpawns } = await build(t)
  // A valid body from the same generator and serializer the properties mutate.
  const [entries] = fc.sample(ROUTES[0].base, { seed: SEED, numRuns: 1 })
  const res = await other.inject({ method: 'POST', url: '/api/commands', headers: { 'content-type': 'application/json' }, payload: objectText(entries) })
  t.equal(res.statusCode, 202, `a valid generated body is accepted: ${objectText(entries)}`)
  const id = res.json().executionId as string
  await until(() => otherSpawns().length === 1, 10_000, 'the Bolt run of the valid request')
  t.equal(otherSpawns().length, 1, 'spawns() sees exactly one Bolt run')
  // With an execution that exists, a malformed Last-Event-ID is what gets refused.
  for (const bad of fc.sample(malformedEventId, { seed: SEED, numRuns: 20 })) {
    const r = await other.inject({ method: 'GET', url: `/api/executions/${id}/stream`, headers: { 'last-event-id': bad, accept: 'text/event-stream' } })
    t.equal(r.statusCode, 400, `Last-Event-ID ${JSON.stringify(bad)}: 400`)
    t.match(String(r.headers['content-type']), JSON_TYPE, `Last-Event-ID ${JSON.stringify(bad)}: JSON`)
    t.equal(r.json().error?.code, 'BOLT_STREAM_INVALID_EVENT_ID', `Last-Event-ID ${JSON.stringify(bad)}: BOLT_STREAM_INVALID_EVENT_ID`)
  }
  await waitFinished(other, id)
  t.equal(otherSpawns().length, 1, 'still one Bolt run')
})

for (const route of ROUTES) {
  t.test(`POST ${route.url}: ${RUNS.fields} JSON bodies with field mutations (fast-check seed ${SEED})`, async (t) => {
    await runProperty(fieldRequests(route), RUNS.fields)
    t.pass('every mutated body was refused with a JSON error')
  })
  t.test(`POST ${route.url}: ${RUNS.transport} transport-level hostile requests (fast-check seed ${SEED})`, async (t) => {
    await runProperty(transportRequests(route), RUNS.transport)
    t.pass('every hostile request was refused with a JSON error')
  })
}

t.test('task params nested 3,000 deep (and as deep as 64 KiB allows) are a 400, not a stack overflow', async (t) => {
  const bodies: Array<[string, string]> = [
    ['arrays 3,000 deep', `{"targets":["a"],"task":"demo::echo","params":{"a":${'['.repeat(3000)}${']'.repeat(3000)}}}`],
    ['arrays 32,000 deep', `{"targets":["a"],"task":"demo::echo","params":{"a":${'['.repeat(32_000)}${']'.repeat(32_000)}}}`],
    ['objects 10,000 deep', `{"targets":["a"],"task":"demo::echo","params":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`],
    ['65 levels, one too many', `{"targets":["a"],"task":"demo::echo","params":{"a":${'['.repeat(64)}${']'.repeat(64)}}}`]
  ]
  for (const [name, payload] of bodies) {
    await expectRefused({ label: `deep params: ${name}`, method: 'POST', url: '/api/tasks', headers: { 'content-type': 'application/json' }, payload, status: 400, codes: ['BOLT_STREAM_PARAMS_TOO_DEEP'] })
    const res = await app.inject({ method: 'POST', url: '/api/tasks', headers: { 'content-type': 'application/json' }, payload })
    t.equal(res.json().error.message, 'params nest deeper than 64 levels (the params object counts as one)', `${name}: the message says the bound`)
  }
})

t.test(`GET /api/executions: ${RUNS.list} bad querystrings (fast-check seed ${SEED})`, async (t) => {
  await runProperty(listRequests, RUNS.list)
  t.pass('every bad querystring was refused with a JSON error')
})

t.test(`GET /api/executions/:id[/stream]: ${RUNS.ids} malformed or unknown ids (fast-check seed ${SEED})`, async (t) => {
  await runProperty(idRequests, RUNS.ids)
  t.pass('every id was refused with a JSON error')
})

t.test('no hostile request started a Bolt run', async (t) => {
  const minimum = 4 * (RUNS.fields + RUNS.transport) + RUNS.list + RUNS.ids
  t.ok(sent >= Math.max(300, minimum), `${sent} generated requests were sent (at least ${Math.max(300, minimum)})`)
  t.comment(`requests per category: ${[...perCategory].map(([k, v]) => `${k} ${v}`).join(', ')}`)
  t.equal((Object.prototype as Record<string, unknown>).polluted, undefined, 'Object.prototype not polluted')
  // A run is spawned after the 202; give a wrongly accepted request time to show up.
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(spawns().length, 0, 'zero Bolt runs')
  const list = await app.inject('/api/executions?limit=100')
  t.equal(list.statusCode, 200, 'the list answers')
  t.same(list.json().executions, [], 'no execution was recorded')
})
