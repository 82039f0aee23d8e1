import t from 'tap'
import { build, startExecution, until, waitFinished } from '../helper.js'

// Every bad request to the four launching routes is refused with a JSON error and starts no
// Bolt run. The spawn log of the stand-in (a real child process) is checked once at the end of
// the file, after every request of every table was sent.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

interface BadCase {
  name: string
  /** Sent as JSON.stringify(body) with content-type application/json, unless `raw` is given. */
  body?: unknown
  /** Sent as is (for `__proto__` keys, malformed JSON, empty bodies, other media types). */
  raw?: string
  contentType?: string
  /** Expected status; 400 unless told. */
  status?: number
  /** Expected error code, when one particular code is part of the contract. */
  code?: string
}

type Body = Record<string, unknown>

const ROUTES: Record<string, Body> = {
  '/api/commands': { targets: ['a'], command: 'echo hi' },
  '/api/tasks': { targets: ['a'], task: 'demo::info' },
  '/api/puppet-runs': { targets: ['a'] },
  '/api/packages': { targets: ['a'], name: 'curl' }
}

const range = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

/** Replaces the base body's targets with each bad value. */
function targetCases (base: Body): BadCase[] {
  const bad: Array<[string, unknown]> = [
    ['targets "-x" (an option)', ['-x']],
    ['targets "--help"', ['--help']],
    ['targets "@/etc/passwd" (a file reference)', ['@/etc/passwd']],
    ['targets "-" (stdin)', ['-']],
    ['targets "a,b" (a list in one name)', ['a,b']],
    ['targets "a b"', ['a b']],
    ['targets "web*" (a glob)', ['web*']],
    ['targets "web?" (a glob)', ['web?']],
    ['targets "ünï" (non-ASCII)', ['ünï']],
    ['targets with NUL', ['a\u0000b']],
    ['targets with CR LF', ['a\r\nb']],
    ['targets with a trailing newline', ['a\n']],
    ['targets empty array', []],
    ['targets 101 names', range(101, 't')],
    ['targets a string, not an array', 'a'],
    ['targets holding a number', [42]],
    ['targets holding an empty name', ['']],
    ['targets null', null],
    // Bolt reads a bare bracketed IPv6 host as a glob (bolt.inventory/wildcard-error): it needs a scheme.
    ['targets "[::1]" (IPv6 without a scheme)', ['[::1]']],
    ['targets "[::1]:22" (IPv6 without a scheme)', ['[::1]:22']],
    ['targets "root@[::1]" (IPv6 without a scheme)', ['root@[::1]']],
    ['targets "web1:0" (port 0)', ['web1:0']],
    ['targets "web1:65536" (port out of range)', ['web1:65536']],
    ['targets "web1:99999" (port out of range)', ['web1:99999']],
    ['targets "ssh://root@web1:0" (port 0)', ['ssh://root@web1:0']]
  ]
  return bad.map(([name, targets]) => ({ name, body: { ...base, targets } }))
}

/** Requests every route refuses the same way. */
function commonCases (base: Body): BadCase[] {
  const { targets: _targets, ...withoutTargets } = base
  const json = JSON.stringify(base)
  const inner = json.slice(1, -1)
  return [
    { name: 'missing targets', body: withoutTargets },
    { name: 'empty object', body: {} },
    { name: 'unknown extra field', body: { ...base, extra: 1 } },
    { name: 'expertMode "true" (a string)', body: { ...base, expertMode: 'true' } },
    { name: 'expertMode 1', body: { ...base, expertMode: 1 } },
    { name: 'JSON null body', raw: 'null' },
    { name: 'JSON array body', raw: `[${json}]` },
    { name: 'JSON string body', raw: JSON.stringify(json) },
    { name: '__proto__ key in the body', raw: `{${inner},"__proto__":{"polluted":true}}`, code: 'BOLT_STREAM_PROTOTYPE_KEY' },
    { name: 'escaped __proto__ key in the body', raw: `{${inner},"\\u005f_proto__":1}`, code: 'BOLT_STREAM_PROTOTYPE_KEY' },
    { name: 'constructor.prototype key in the body', raw: `{${inner},"constructor":{"prototype":{"polluted":true}}}`, code: 'BOLT_STREAM_PROTOTYPE_KEY' },
    { name: 'plain constructor key in the body', raw: `{${inner},"constructor":1}` },
    { name: 'text/plain body', raw: json, contentType: 'text/plain', status: 415, code: 'BOLT_STREAM_UNSUPPORTED_MEDIA_TYPE' },
    { name: 'application/xml body', raw: '<targets>a</targets>', contentType: 'application/xml', status: 415, code: 'BOLT_STREAM_UNSUPPORTED_MEDIA_TYPE' },
    { name: 'malformed JSON', raw: '{"targets":', code: 'BOLT_STREAM_INVALID_JSON' },
    { name: 'empty body with a JSON content type', raw: '', code: 'BOLT_STREAM_INVALID_JSON' },
    {
      name: 'body over 64 KiB',
      raw: JSON.stringify({ ...base, pad: 'x'.repeat(64 * 1024) }),
      status: 413,
      code: 'BOLT_STREAM_BODY_TOO_LARGE'
    }
  ]
}

const TABLES: Record<string, BadCase[]> = {
  '/api/commands': [
    { name: 'command 42', body: { targets: ['a'], command: 42 } },
    { name: 'command null', body: { targets: ['a'], command: null } },
    { name: 'command ["echo","hi"]', body: { targets: ['a'], command: ['echo', 'hi'] } },
    { name: 'missing command', body: { targets: ['a'] } },
    { name: 'empty command', body: { targets: ['a'], command: '' } },
    { name: 'command starting with "-"', body: { targets: ['a'], command: '-rf /' } },
    { name: 'command starting with "--"', body: { targets: ['a'], command: '--help' } },
    { name: 'command starting with "@"', body: { targets: ['a'], command: '@/etc/passwd' } },
    { name: 'command "-" alone', body: { targets: ['a'], command: '-' } },
    { name: 'command with NUL', body: { targets: ['a'], command: 'echo a\u0000b' } },
    { name: 'command of 8193 characters', body: { targets: ['a'], command: 'echo ' + 'x'.repeat(8188) } },
    { name: 'command of 8193 characters, two UTF-16 units each', body: { targets: ['a'], command: 'echo ' + '😀'.repeat(8188) } },
    { name: 'task field on the command route', body: { targets: ['a'], command: 'echo hi', task: 'demo::info' } },
    ...targetCases(ROUTES['/api/commands']),
    ...commonCases(ROUTES['/api/commands'])
  ],
  '/api/tasks': [
    { name: 'missing task', body: { targets: ['a'] } },
    { name: 'task 42', body: { targets: ['a'], task: 42 } },
    { name: 'empty task', body: { targets: ['a'], task: '' } },
    { name: 'task "demo::.."', body: { targets: ['a'], task: 'demo::..' } },
    { name: 'task "../etc/passwd"', body: { targets: ['a'], task: '../etc/passwd' } },
    { name: 'task "demo/../x"', body: { targets: ['a'], task: 'demo/../x' } },
    { name: 'task "Demo::Info" (capitals)', body: { targets: ['a'], task: 'Demo::Info' } },
    { name: 'task "demo::Info" (capitals)', body: { targets: ['a'], task: 'demo::Info' } },
    { name: 'task "-x"', body: { targets: ['a'], task: '-x' } },
    { name: 'task "@file"', body: { targets: ['a'], task: '@file' } },
    { name: 'params [] (an array)', body: { targets: ['a'], task: 'demo::echo', params: [] } },
    { name: 'params "x" (a string)', body: { targets: ['a'], task: 'demo::echo', params: 'x' } },
    { name: 'params null', body: { targets: ['a'], task: 'demo::echo', params: null } },
    { name: 'param name "_run_as" (a metaparameter)', body: { targets: ['a'], task: 'demo::echo', params: { _run_as: 'root' } } },
    { name: 'param name "_noop"', body: { targets: ['a'], task: 'demo::echo', params: { _noop: true } } },
    { name: 'param name "Name" (capital)', body: { targets: ['a'], task: 'demo::echo', params: { Name: 'x' } } },
    { name: 'param name "-x"', body: { targets: ['a'], task: 'demo::echo', params: { '-x': 1 } } },
    { name: 'param name "a b"', body: { targets: ['a'], task: 'demo::echo', params: { 'a b': 1 } } },
    { name: 'empty param name', body: { targets: ['a'], task: 'demo::echo', params: { '': 1 } } },
    {
      name: '__proto__ key in params',
      raw: '{"targets":["a"],"task":"demo::echo","params":{"__proto__":{"polluted":true}}}',
      code: 'BOLT_STREAM_PROTOTYPE_KEY'
    },
    {
      name: 'constructor.prototype key deep in params',
      raw: '{"targets":["a"],"task":"demo::echo","params":{"x":[{"constructor":{"prototype":{"polluted":true}}}]}}',
      code: 'BOLT_STREAM_PROTOTYPE_KEY'
    },
    ...targetCases(ROUTES['/api/tasks']),
    ...commonCases(ROUTES['/api/tasks'])
  ],
  '/api/puppet-runs': [
    { name: 'noop 1', body: { targets: ['a'], noop: 1 } },
    { name: 'noop "true"', body: { targets: ['a'], noop: 'true' } },
    { name: 'environment "Prod" (capital)', body: { targets: ['a'], environment: 'Prod' } },
    { name: 'environment "a b"', body: { targets: ['a'], environment: 'a b' } },
    { name: 'environment "-x"', body: { targets: ['a'], environment: '-x' } },
    { name: 'environment "prod;id"', body: { targets: ['a'], environment: 'prod;id' } },
    { name: 'empty environment', body: { targets: ['a'], environment: '' } },
    { name: 'environment 42', body: { targets: ['a'], environment: 42 } },
    { name: 'tag "-x"', body: { targets: ['a'], tags: ['-x'] } },
    { name: 'tag "a b"', body: { targets: ['a'], tags: ['a b'] } },
    { name: 'tag "a,b"', body: { targets: ['a'], tags: ['a,b'] } },
    { name: 'empty tag', body: { targets: ['a'], tags: [''] } },
    { name: '51 tags', body: { targets: ['a'], tags: range(51, 'tag') } },
    { name: 'tags "x" (a string)', body: { targets: ['a'], tags: 'x' } },
    { name: 'tags [1]', body: { targets: ['a'], tags: [1] } },
    { name: 'command field on the puppet route', body: { targets: ['a'], command: 'id' } },
    ...targetCases(ROUTES['/api/puppet-runs']),
    ...commonCases(ROUTES['/api/puppet-runs'])
  ],
  '/api/packages': [
    { name: 'missing name', body: { targets: ['a'] } },
    { name: 'name 42', body: { targets: ['a'], name: 42 } },
    { name: 'empty name', body: { targets: ['a'], name: '' } },
    { name: 'name "-rf"', body: { targets: ['a'], name: '-rf' } },
    { name: 'name "a;b"', body: { targets: ['a'], name: 'a;b' } },
    { name: 'name "a b"', body: { targets: ['a'], name: 'a b' } },
    { name: 'name "@file"', body: { targets: ['a'], name: '@file' } },
    { name: 'action "purge"', body: { targets: ['a'], name: 'curl', action: 'purge' } },
    { name: 'action "Install"', body: { targets: ['a'], name: 'curl', action: 'Install' } },
    { name: 'action 1', body: { targets: ['a'], name: 'curl', action: 1 } },
    { name: 'version "-1"', body: { targets: ['a'], name: 'curl', version: '-1' } },
    { name: 'version "1 2"', body: { targets: ['a'], name: 'curl', version: '1 2' } },
    { name: 'version 7 (a number)', body: { targets: ['a'], name: 'curl', version: 7 } },
    ...targetCases(ROUTES['/api/packages']),
    ...commonCases(ROUTES['/api/packages'])
  ]
}

const { app, spawns } = await build(t)

for (const [url, cases] of Object.entries(TABLES)) {
  t.test(`POST ${url} refuses bad requests`, async (t) => {
    for (const c of cases) {
      const payload = c.raw ?? JSON.stringify(c.body)
      const res = await app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': c.contentType ?? 'application/json' },
        payload
      })
      const expected = c.status ?? 400
      t.equal(res.statusCode, expected, `${c.name}: status ${expected}`)
      t.ok(res.statusCode >= 400 && res.statusCode < 500, `${c.name}: a 4xx`)
      t.match(String(res.headers['content-type']), /^application\/json/, `${c.name}: JSON content type`)
      let body: any
      try {
        body = JSON.parse(res.body)
      } catch {
        t.fail(`${c.name}: body is not JSON: ${res.body.slice(0, 200)}`)
        continue
      }
      t.same(Object.keys(body), ['error'], `${c.name}: only an error object`)
      t.same(Object.keys(body.error ?? {}).sort(), ['code', 'message'], `${c.name}: error has code and message`)
      t.type(body.error?.code, 'string', `${c.name}: code is a string`)
      t.ok(String(body.error?.code).startsWith('BOLT_STREAM_'), `${c.name}: code ${body.error?.code} starts with BOLT_STREAM_`)
      if (c.code !== undefined) t.equal(body.error?.code, c.code, `${c.name}: code ${c.code}`)
      t.type(body.error?.message, 'string', `${c.name}: message is a string`)
      t.ok(String(body.error?.message).length > 0, `${c.name}: message is not empty`)
      t.notOk(res.headers.location, `${c.name}: no Location header`)
    }
    // Nothing of a `__proto__` / `constructor` body leaked into the prototype chain.
    t.equal((Object.prototype as Record<string, unknown>).polluted, undefined, 'Object.prototype not polluted')
  })
}

t.test('a valid request of each route does start Bolt', async (t) => {
  const { app, spawns } = await build(t)
  const valid: Array<[string, Body, string]> = [
    // At the limits: a command of exactly 8192 characters, 100 targets, 50 tags.
    ['/api/commands', { targets: ['a'], command: 'echo ' + 'x'.repeat(8187) }, 'command'],
    ['/api/tasks', { targets: range(100, 't'), task: 'demo::echo', params: { name: 'x', count: 3 } }, 'task'],
    ['/api/puppet-runs', { targets: ['a'], noop: true, environment: 'production', tags: range(50, 'tag') }, 'puppet'],
    ['/api/packages', { targets: ['a'], name: 'curl', action: 'install', version: '7.88.1-10' }, 'package']
  ]
  t.equal(spawns().length, 0, 'no runs before the requests')
  const ids: string[] = []
  for (const [url, body, type] of valid) {
    const res = await app.inject({ method: 'POST', url, payload: body })
    t.equal(res.statusCode, 202, `${url}: 202`)
    t.match(String(res.headers['content-type']), /^application\/json/, `${url}: JSON`)
    const json = res.json()
    t.same(Object.keys(json).sort(), ['executionId', 'status', 'streamUrl'], `${url}: accepted fields`)
    t.match(json.executionId, UUID, `${url}: executionId is a UUID v4`)
    t.equal(json.status, 'running', `${url}: running`)
    t.equal(json.streamUrl, `/api/executions/${json.executionId}/stream`, `${url}: streamUrl`)
    t.equal(res.headers.location, `/api/executions/${json.executionId}`, `${url}: Location header`)
    t.notOk(ids.includes(json.executionId), `${url}: a new id`)
    ids.push(json.executionId)
    const record = (await app.inject(`/api/executions/${json.executionId}`)).json()
    t.equal(record.type, type, `${url}: recorded as ${type}`)
  }
  await until(() => spawns().length === 4, 10_000, 'four Bolt runs')
  t.equal(spawns().length, 4, 'one Bolt run per valid request')
  const argv = spawns().map((s) => s.argv)
  t.equal(argv.filter((a) => a[0] === 'command' && a[1] === 'run').length, 2, 'command and puppet run `bolt command run`')
  t.equal(argv.filter((a) => a[0] === 'task' && a[1] === 'run').length, 2, 'task and package run `bolt task run`')
  t.ok(argv.some((a) => a.includes('--targets=' + range(100, 't').join(','))), 'the 100 targets reach Bolt')
  t.ok(argv.some((a) => a.includes('echo ' + 'x'.repeat(8187))), 'the 8192-character command reaches Bolt')
  for (const id of ids) {
    await until(async () => (await app.inject(`/api/executions/${id}`)).json().status !== 'running', 15_000, `execution ${id} to finish`)
    t.equal((await app.inject(`/api/executions/${id}`)).json().status, 'success', `execution ${id} succeeded`)
  }
})

t.test('accepted at the edges: [IPv6] after a scheme, ports 1 and 65535, 8192 emoji, params 64 levels deep', async (t) => {
  const { app, spawns } = await build(t)
  const targets = ['ssh://[::1]:22', 'ssh://root@[fe80::1]', 'web1:1', 'web1:65535']
  const emoji = 'echo ' + '😀'.repeat(8187) // 8192 characters, 16379 UTF-16 units
  const nested = '['.repeat(63) + ']'.repeat(63) // with the params object: 64 levels
  const ids = [
    await startExecution(app, '/api/commands', { targets, command: 'echo hi' }),
    await startExecution(app, '/api/commands', { targets: ['a'], command: emoji })
  ]
  const deep = await app.inject({
    method: 'POST',
    url: '/api/tasks',
    headers: { 'content-type': 'application/json' },
    payload: `{"targets":["a"],"task":"demo::echo","params":{"a":${nested}}}`
  })
  t.equal(deep.statusCode, 202, `params 64 levels deep: 202 ${deep.body.slice(0, 200)}`)
  ids.push(deep.json().executionId)
  const records = []
  for (const id of ids) records.push(await waitFinished(app, id))
  t.same(records.map((r) => r.status), ['success', 'success', 'success'], 'all three ran and succeeded')
  t.same(records[0].results.map((r: { target: string }) => r.target).sort(), [...targets].sort(), 'Bolt ran the IPv6 URIs as targets')
  const argv = spawns().map((s) => s.argv)
  t.ok(argv.some((a) => a.includes(`--targets=${targets.join(',')}`)), 'the targets reach Bolt as given')
  t.ok(argv.some((a) => a.at(-1) === emoji), 'the 8192-character command reaches Bolt whole')
  t.ok(argv.some((a) => a.includes(`--params={"a":${nested}}`)), 'the nested params reach Bolt')
})

t.test('no bad request started a Bolt run', async (t) => {
  // A run is spawned after the 202; give a wrongly accepted request time to show up.
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(spawns().length, 0, 'zero Bolt runs')
  const list = (await app.inject('/api/executions?limit=100')).json()
  t.same(list.executions, [], 'no execution was recorded')
  const stats = (await app.inject('/api/streaming/stats')).json()
  t.equal(stats.activeExecutions, 0, 'nothing is running')
})
