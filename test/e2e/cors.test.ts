import t from 'tap'
import { build, getJson, makeTokens, until } from '../helper.js'

// A browser on another origin (CORS_ORIGINS) must be able to use the whole API: its preflight
// allows every method and request header the API uses, and the answers expose the headers the
// API documents. Real preflights over a real socket.

const ORIGIN = 'https://ops.example.com'
const tokens = makeTokens({ ops: ['read', 'execute'] })

const list = (value: string | null): string[] => (value ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '')

async function preflight (url: string, method: string, headers: string, origin = ORIGIN): Promise<Response> {
  return await fetch(url, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers }
  })
}

t.test('the preflight allows every method and header the API uses, without a token', async (t) => {
  const { url } = await build(t, { listen: true, env: { CORS_ORIGINS: ORIGIN, AUTH_TOKENS: tokens.env } })
  const id = '00000000-0000-4000-8000-000000000000'
  const cases: Array<[string, string, string]> = [
    ['DELETE', `/api/executions/${id}`, 'authorization'],
    ['POST', '/api/commands', 'authorization,content-type'],
    ['POST', `/api/executions/${id}/cancel`, 'authorization'],
    ['GET', `/api/executions/${id}/stream`, 'authorization,last-event-id'],
    ['HEAD', `/api/executions/${id}`, 'authorization']
  ]
  for (const [method, path, headers] of cases) {
    const res = await preflight(url + path, method, headers)
    t.equal(res.status, 204, `${method} ${path}: 204`)
    t.equal(res.headers.get('access-control-allow-origin'), ORIGIN, `${method}: the origin is allowed`)
    t.ok(list(res.headers.get('access-control-allow-methods')).includes(method.toLowerCase()), `${method} is allowed`)
    const allowed = list(res.headers.get('access-control-allow-headers'))
    for (const header of headers.split(',')) t.ok(allowed.includes(header), `${method}: ${header} is allowed`)
  }
  const foreign = await preflight(`${url}/api/commands`, 'POST', 'content-type', 'https://evil.example.com')
  t.equal(foreign.headers.get('access-control-allow-origin'), null, 'another origin is not allowed')
})

t.test('answers expose Location, Retry-After, WWW-Authenticate and the rate-limit headers; DELETE works', async (t) => {
  const { url } = await build(t, { listen: true, env: { CORS_ORIGINS: ORIGIN, AUTH_TOKENS: tokens.env, RATE_LIMIT_MAX: '2' } })
  const post = async (): Promise<Response> => await fetch(`${url}/api/commands`, {
    method: 'POST',
    headers: { origin: ORIGIN, 'content-type': 'application/json', ...tokens.auth('ops') },
    body: JSON.stringify({ targets: ['web1'], command: 'echo hi' })
  })
  const accepted = await post()
  t.equal(accepted.status, 202)
  const exposed = list(accepted.headers.get('access-control-expose-headers'))
  for (const header of ['location', 'retry-after', 'www-authenticate', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']) {
    t.ok(exposed.includes(header), `${header} is exposed`)
  }
  t.ok(accepted.headers.get('location'), 'Location is sent')
  t.ok(accepted.headers.get('x-ratelimit-remaining'), 'the rate limiter counts are sent')

  const id = ((await accepted.json()) as { executionId: string }).executionId
  await until(async () => (await getJson(`${url}/api/executions/${id}`, tokens.auth('ops'))).json.completedAt !== null, 10_000, 'the execution to end')
  const deleted = await fetch(`${url}/api/executions/${id}`, { method: 'DELETE', headers: { origin: ORIGIN, ...tokens.auth('ops') } })
  t.equal(deleted.status, 204, 'DELETE from the browser origin')
  t.equal(deleted.headers.get('access-control-allow-origin'), ORIGIN)

  t.equal((await post()).status, 202)
  const limited = await post()
  t.equal(limited.status, 429, 'the third POST in the window is limited')
  t.ok(list(limited.headers.get('access-control-expose-headers')).includes('retry-after'), 'a 429 exposes Retry-After')
  t.ok(Number(limited.headers.get('retry-after')) > 0, 'and sends it')

  const refused = await fetch(`${url}/api/executions`, { headers: { origin: ORIGIN } })
  t.equal(refused.status, 401)
  t.ok(list(refused.headers.get('access-control-expose-headers')).includes('www-authenticate'), 'a 401 exposes its challenge')
})
