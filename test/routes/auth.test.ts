import t from 'tap'
import { build, makeTokens, until, type TestApp } from '../helper.js'

// Every /api route × {no token, bad token, token without the scope, good token}, over real HTTP.

const tokens = makeTokens({
  all: ['read', 'execute', 'expert'],
  'no-read': ['execute', 'expert'],
  'no-execute': ['read', 'expert'],
  'no-expert': ['read', 'execute']
})
const LACKING: Record<string, string> = { read: 'no-read', execute: 'no-execute', expert: 'no-expert' }

interface Ids { finished: string, running: string, deletable: string }

interface RouteCase {
  /** The scopes it needs, each tried missing. */
  scopes: string[]
  request: (ids: Ids) => { path: string, body?: unknown, headers?: Record<string, string> }
  /** Answer to a token with every scope. */
  ok: number
}

const CASES: Record<string, RouteCase> = {
  'POST /api/commands': { scopes: ['execute'], ok: 202, request: () => ({ path: '/api/commands', body: { targets: ['web1'], command: 'echo hi' } }) },
  'POST /api/tasks': { scopes: ['execute'], ok: 202, request: () => ({ path: '/api/tasks', body: { targets: ['web1'], task: 'demo::info' } }) },
  'POST /api/puppet-runs': { scopes: ['execute'], ok: 202, request: () => ({ path: '/api/puppet-runs', body: { targets: ['web1'] } }) },
  'POST /api/packages': { scopes: ['execute'], ok: 202, request: () => ({ path: '/api/packages', body: { targets: ['web1'], name: 'nginx' } }) },
  'POST /api/plans': { scopes: ['execute'], ok: 202, request: () => ({ path: '/api/plans', body: { plan: 'demo::deploy', params: { targets: 'web1' } } }) },
  'GET /api/executions': { scopes: ['read'], ok: 200, request: () => ({ path: '/api/executions' }) },
  'GET /api/executions/:id': { scopes: ['read'], ok: 200, request: (ids) => ({ path: `/api/executions/${ids.finished}` }) },
  'DELETE /api/executions/:id': { scopes: ['execute'], ok: 204, request: (ids) => ({ path: `/api/executions/${ids.deletable}` }) },
  'GET /api/executions/:id/output': { scopes: ['read', 'expert'], ok: 200, request: (ids) => ({ path: `/api/executions/${ids.finished}/output` }) },
  'GET /api/executions/:id/events': { scopes: ['read'], ok: 200, request: (ids) => ({ path: `/api/executions/${ids.finished}/events` }) },
  'POST /api/executions/:id/stream-ticket': { scopes: ['read'], ok: 201, request: (ids) => ({ path: `/api/executions/${ids.finished}/stream-ticket` }) },
  // The finished execution ran in expert mode: its re-run keeps it, so it needs the expert scope too.
  'POST /api/executions/:id/rerun': { scopes: ['execute', 'expert'], ok: 202, request: (ids) => ({ path: `/api/executions/${ids.finished}/rerun` }) },
  'POST /api/executions/:id/cancel': { scopes: ['execute'], ok: 202, request: (ids) => ({ path: `/api/executions/${ids.running}/cancel` }) },
  'GET /api/executions/:id/stream': { scopes: ['read'], ok: 200, request: (ids) => ({ path: `/api/executions/${ids.finished}/stream`, headers: { accept: 'text/event-stream' } }) },
  'GET /api/streaming/stats': { scopes: ['read'], ok: 200, request: () => ({ path: '/api/streaming/stats' }) },
  'GET /api/tasks': { scopes: ['read'], ok: 200, request: () => ({ path: '/api/tasks' }) },
  'GET /api/tasks/:name': { scopes: ['read'], ok: 200, request: () => ({ path: '/api/tasks/demo::echo' }) },
  'GET /api/plans': { scopes: ['read'], ok: 200, request: () => ({ path: '/api/plans' }) },
  'GET /api/plans/:name': { scopes: ['read'], ok: 200, request: () => ({ path: '/api/plans/demo::deploy' }) },
  'GET /api/targets': { scopes: ['read'], ok: 200, request: () => ({ path: '/api/targets?group=unreachable' }) },
  'GET /api/groups': { scopes: ['read'], ok: 200, request: () => ({ path: '/api/groups' }) }
}

/** Routes that need no token. */
const PUBLIC = ['GET /api/info', 'HEAD /api/info']

async function call (base: string, method: string, req: { path: string, body?: unknown, headers?: Record<string, string> }, auth: Record<string, string>) {
  const headers: Record<string, string> = { ...req.headers, ...auth }
  if (req.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(base + req.path, { method, headers, body: req.body === undefined ? undefined : JSON.stringify(req.body) })
  const text = await res.text()
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) }
}

async function finishedExecution (app: TestApp, command = 'echo done'): Promise<string> {
  const res = await call(app.url, 'POST', { path: '/api/commands', body: { targets: ['web1'], command, expertMode: true } }, tokens.auth('all'))
  const id = res.json().executionId as string
  await until(async () => {
    const r = await call(app.url, 'GET', { path: `/api/executions/${id}` }, tokens.auth('all'))
    return r.json().completedAt !== null
  }, 10_000, 'the execution to finish')
  return id
}

t.test('every /api route × {no token, bad token, token without the scope, good token}', async (t) => {
  const app = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env } })
  const apiRoutes = app.routes().filter((r) => r.url.startsWith('/api') && r.method !== 'OPTIONS')
  // The matrix covers every route the app has: a new route without a case fails here. The one
  // public route (what a page needs to know before it has a token) answers without one.
  const covered = new Set(Object.keys(CASES).flatMap((key) => key.startsWith('GET ') ? [key, key.replace(/^GET/, 'HEAD')] : [key]))
  const routeKeys = apiRoutes.map((r) => `${r.method} ${r.url}`)
  t.same(routeKeys.filter((k) => !PUBLIC.includes(k)).sort(), [...covered].sort(), 'the matrix lists every /api route')
  for (const key of PUBLIC) {
    const [method, path] = key.split(' ')
    t.ok(routeKeys.includes(key), `${key} exists`)
    t.equal((await call(app.url, method, { path }, {})).status, 200, `${key}: public`)
  }

  // One finished execution serves every case that reads one; a running or deletable execution is
  // made only for the case that uses it up (cancel, delete).
  const finished = await finishedExecution(app)
  const runningExecution = async (key: string): Promise<string> => {
    const command = `sleep 30; : ${key}`
    const res = await call(app.url, 'POST', { path: '/api/commands', body: { targets: ['web1'], command } }, tokens.auth('all'))
    // Its Bolt starts after the 202; counted before the refused requests are.
    await until(() => app.spawns().some((s) => s.argv.includes(command)), 10_000, 'the running execution to spawn')
    return res.json().executionId as string
  }
  for (const [key, rc] of Object.entries(CASES)) {
    for (const method of key.startsWith('GET ') ? ['GET', 'HEAD'] : [key.split(' ')[0]]) {
      await t.test(`${method} ${key.split(' ')[1]}`, async (t) => {
        const ids: Ids = {
          finished,
          deletable: key.startsWith('DELETE ') ? await finishedExecution(app) : 'unused',
          running: key.endsWith('/cancel') ? await runningExecution(key) : 'unused'
        }
        const req = rc.request(ids)
        const spawnsBefore = app.spawns().length
        const body = method !== 'HEAD'

        const none = await call(app.url, method, req, {})
        t.equal(none.status, 401, 'no token: 401')
        t.equal(none.headers.get('www-authenticate'), 'Bearer realm="bolt-stream"')
        if (body) t.equal(none.json().error.code, 'BOLT_STREAM_UNAUTHORIZED')

        for (const bad of ['Bearer not-a-token', `Bearer ${tokens.token.all}x`, `Basic ${Buffer.from('a:b').toString('base64')}`, 'Bearer']) {
          const res = await call(app.url, method, req, { authorization: bad })
          t.equal(res.status, 401, `${bad.split(' ')[0]} bad credential: 401`)
          t.equal(res.headers.get('www-authenticate'), 'Bearer realm="bolt-stream", error="invalid_token"')
          if (body) t.equal(res.json().error.code, 'BOLT_STREAM_INVALID_TOKEN')
        }

        for (const scope of rc.scopes) {
          const res = await call(app.url, method, req, tokens.auth(LACKING[scope]))
          t.equal(res.status, 403, `without '${scope}': 403`)
          t.equal(res.headers.get('www-authenticate'), `Bearer realm="bolt-stream", error="insufficient_scope", scope="${scope}"`)
          if (body) {
            t.equal(res.json().error.code, 'BOLT_STREAM_FORBIDDEN')
            t.match(res.json().error.message, `'${scope}'`)
          }
        }
        t.equal(app.spawns().length, spawnsBefore, 'nothing ran for a refused request')

        const good = await call(app.url, method, req, tokens.auth('all'))
        t.equal(good.status, rc.ok, `every scope: ${rc.ok}`)
        // Work it started spawns after the 202: let it, so the next case counts only its own.
        if (good.status === 202 && !key.endsWith('/cancel')) {
          await until(() => app.spawns().length > spawnsBefore, 10_000, 'the accepted execution to spawn')
        }
      })
    }
  }
})

t.test('expertMode: true needs the expert scope; the token name is recorded as requestedBy', async (t) => {
  const { app, spawns } = await build(t, { env: { AUTH_TOKENS: tokens.env } })
  const body = { targets: ['web1'], command: 'echo secret', expertMode: true }
  const refused = await app.inject({ method: 'POST', url: '/api/commands', headers: tokens.auth('no-expert'), payload: body })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().error.code, 'BOLT_STREAM_FORBIDDEN')
  t.match(refused.json().error.message, /'expert' scope needed for expertMode: true/)
  t.equal(spawns().length, 0, 'nothing ran')

  const plain = await app.inject({ method: 'POST', url: '/api/commands', headers: tokens.auth('no-expert'), payload: { ...body, expertMode: false } })
  t.equal(plain.statusCode, 202, 'the same token runs it without expert mode')
  const expert = await app.inject({ method: 'POST', url: '/api/commands', headers: tokens.auth('all'), payload: body })
  t.equal(expert.statusCode, 202)
  const get = async (id: string) => (await app.inject({ url: `/api/executions/${id}`, headers: tokens.auth('all') })).json()
  t.equal((await get(plain.json().executionId)).requestedBy, 'no-expert')
  t.equal((await get(expert.json().executionId)).requestedBy, 'all')
})

t.test('in open mode requestedBy is null and every scope is granted', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ method: 'POST', url: '/api/commands', payload: { targets: ['web1'], command: 'echo x', expertMode: true } })
  t.equal(res.statusCode, 202)
  t.equal((await app.inject(`/api/executions/${res.json().executionId}`)).json().requestedBy, null)
})

t.test('a reader without expert sees no command and no raw output: record, list, events and output', async (t) => {
  const app = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env } })
  const id = await finishedExecution(app, 'echo visible-only-to-experts')
  const as = (name: string, path: string) => call(app.url, 'GET', { path }, tokens.auth(name))

  const full = (await as('all', `/api/executions/${id}`)).json()
  t.match(full.command, /echo visible-only-to-experts/, 'an expert sees the command')
  t.match(full.results[0].stdout, /visible-only-to-experts/, 'and the output')

  const reader = (await as('no-expert', `/api/executions/${id}`)).json()
  t.equal(reader.command, null, 'a reader does not see the command')
  t.equal(reader.results[0].stdout, undefined, 'nor the output')
  t.equal(reader.results[0].exitCode, 0, 'but sees the exit code')
  t.equal(reader.results[0].status, 'success')

  const listed = (await as('no-expert', '/api/executions')).json().executions.find((e: any) => e.id === id)
  t.equal(listed.command, null)
  t.equal(listed.results[0].stdout, undefined)

  const events = (await as('no-expert', `/api/executions/${id}/events?limit=1000`)).json()
  const types = events.events.map((e: any) => e.type)
  t.notOk(types.some((type: string) => ['command', 'stdout', 'stderr'].includes(type)), `no expert-only events (${types.join(',')})`)
  t.same(types.slice(-1), ['complete'])
  t.equal(events.events.at(-1).data.results[0].stdout, undefined, 'the complete event carries no raw output')
  const expertEvents = (await as('all', `/api/executions/${id}/events?limit=1000`)).json()
  t.ok(expertEvents.events.some((e: any) => e.type === 'stdout'), 'an expert gets the stdout events')
  t.ok(expertEvents.events.some((e: any) => e.type === 'command'), 'and the command event')
  t.equal(events.nextAfter, expertEvents.nextAfter, 'both cursors end at the last seq')

  // Paging by one visible event at a time skips hidden events without stopping early.
  const paged: string[] = []
  let after = 0
  for (let i = 0; i < 50; i++) {
    const page = (await as('no-expert', `/api/executions/${id}/events?after=${after}&limit=1`)).json()
    if (page.events.length === 0) break
    paged.push(page.events[0].type)
    after = page.nextAfter
  }
  t.same(paged, types, 'one-by-one paging yields the same visible events')

  const output = await as('no-expert', `/api/executions/${id}/output`)
  t.equal(output.status, 403)
  t.equal(output.json().error.code, 'BOLT_STREAM_FORBIDDEN')
  t.notMatch(output.text, /visible-only-to-experts/)
  t.match((await as('all', `/api/executions/${id}/output`)).text, /visible-only-to-experts/)
})

t.test('tokens are never accepted in the URL', async (t) => {
  const { app } = await build(t, { env: { AUTH_TOKENS: tokens.env } })
  for (const param of ['access_token', 'token', 'Access_Token', 'api_key']) {
    for (const url of [`/api/executions?${param}=${tokens.token.all}`, `/api/streaming/stats?${param}=x`]) {
      const res = await app.inject({ url, headers: tokens.auth('all') })
      t.equal(res.statusCode, 400, `${param}: 400 even with a good header`)
      t.equal(res.json().error.code, 'BOLT_STREAM_TOKEN_IN_URL')
      const bare = await app.inject({ url })
      t.equal(bare.statusCode, 400, `${param}: 400, not accepted as a credential`)
    }
  }
})

t.test('health endpoints never need a token; an unknown /api route is a plain 404', async (t) => {
  const { app } = await build(t, { env: { AUTH_TOKENS: tokens.env } })
  t.equal((await app.inject('/health/live')).statusCode, 200)
  t.not((await app.inject('/health/ready')).statusCode, 401)
  const unknown = await app.inject('/api/nothing-here')
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error.code, 'BOLT_STREAM_ROUTE_NOT_FOUND')
})

t.test('the scheme is case-insensitive; anything but one Bearer token is refused', async (t) => {
  const { app } = await build(t, { env: { AUTH_TOKENS: tokens.env } })
  const get = (authorization: string) => app.inject({ url: '/api/streaming/stats', headers: { authorization } })
  t.equal((await get(`bearer ${tokens.token.all}`)).statusCode, 200)
  t.equal((await get(`BEARER ${tokens.token.all}`)).statusCode, 200)
  for (const bad of [`Bearer ${tokens.token.all} ${tokens.token.all}`, `Bearer\t${tokens.token.all}`, `Token ${tokens.token.all}`, tokens.token.all, `Bearer ${'x'.repeat(5000)}`]) {
    const res = await get(bad)
    t.equal(res.statusCode, 401, JSON.stringify(bad.slice(0, 40)))
  }
})

t.test('open mode warns once, loudly; with tokens it logs how many, never a token or a hash', async (t) => {
  const open = await build(t, { captureLogs: true })
  await open.app.inject('/api/executions')
  await open.app.inject('/api/executions')
  const warnings = open.logs().filter((l) => /API is OPEN/.test(String(l.msg)))
  t.equal(warnings.length, 1, 'one warning')
  t.equal(warnings[0].level, 40, 'at warn level')

  const secured = await build(t, { captureLogs: true, env: { AUTH_TOKENS: tokens.env } })
  await secured.app.inject({ url: '/api/executions', headers: tokens.auth('all') })
  await secured.app.inject({ url: '/api/executions', headers: { authorization: 'Bearer wrong-guess' } })
  t.notOk(secured.logs().some((l) => /API is OPEN/.test(String(l.msg))), 'no open-mode warning')
  t.ok(secured.logs().some((l) => l.tokens === 4), 'the number of tokens is logged')
  const text = secured.logText()
  for (const [name, token] of Object.entries(tokens.token)) t.notOk(text.includes(token), `${name}'s token is not in the logs`)
  t.notOk(text.includes('wrong-guess'), 'a presented bad token is not in the logs')
  for (const hash of tokens.env.split(';').map((e) => e.split(' ')[2])) t.notOk(text.includes(hash), 'no hash in the logs')
})

t.test('POST rate limits count per token; failed attempts count against the address', async (t) => {
  const { app } = await build(t, { env: { AUTH_TOKENS: tokens.env, RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '60000' } })
  const post = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/api/commands', headers, payload: { targets: ['a'], command: 'true' } })
  t.equal((await post(tokens.auth('all'))).statusCode, 202)
  t.equal((await post(tokens.auth('all'))).statusCode, 202)
  t.equal((await post(tokens.auth('all'))).statusCode, 429, "'all' used its allowance")
  t.equal((await post(tokens.auth('no-expert'))).statusCode, 202, 'another token from the same address has its own')
  t.equal((await post({})).statusCode, 401)
  t.equal((await post({ authorization: 'Bearer guess' })).statusCode, 401)
  const limited = await post({ authorization: 'Bearer guess-again' })
  t.equal(limited.statusCode, 429, 'guessing from one address is limited')
  t.equal(limited.json().error.code, 'BOLT_STREAM_RATE_LIMITED')
})
