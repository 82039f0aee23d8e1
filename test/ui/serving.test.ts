import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { build, makeTokens, ROOT } from '../helper.js'
import { buildViewer } from './browser.js'

// The viewer as the service serves it: pages and API side by side, security headers on the pages
// only, a clear 503 before the build, and /api/info.

await buildViewer()

const PAGES = ['/', '/run', '/executions', '/executions/3f1c2a4e-8d5b-4c1a-9e2f-7a6b5c4d3e2f', '/targets', '/targets/web1']

t.test('every page route answers the viewer, with a strict CSP and the usual security headers', async (t) => {
  const ctx = await build(t, { listen: true })
  for (const path of PAGES) {
    const res = await fetch(`${ctx.url}${path}`, { headers: { accept: 'text/html' } })
    t.equal(res.status, 200, `${path} is a page`)
    t.match(res.headers.get('content-type'), /^text\/html/)
    const html = await res.text()
    t.match(html, /<div id="app"><\/div>/, `${path} serves index.html`)
    const csp = res.headers.get('content-security-policy') ?? ''
    t.match(csp, /default-src 'self'/)
    t.match(csp, /script-src 'self'(;|$)/, 'scripts from the service only, nothing inline')
    t.match(csp, /style-src 'self'(;|$)/, 'no inline style either')
    t.match(csp, /object-src 'none'/)
    t.match(csp, /frame-ancestors 'none'/)
    t.notMatch(csp, /unsafe-inline|unsafe-eval|upgrade-insecure-requests/)
    t.equal(res.headers.get('x-content-type-options'), 'nosniff')
    t.equal(res.headers.get('referrer-policy'), 'no-referrer')
    t.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN')
    t.equal(res.headers.get('cache-control'), 'no-cache', 'index.html is revalidated: it names the current build')
  }
  t.notMatch(await (await fetch(`${ctx.url}/`)).text(), /<script>|<style>| style=/, 'no inline script or style in the page')
})

t.test('assets are served from the build, hashed and cached for good', async (t) => {
  const ctx = await build(t, { listen: true })
  const scripts = readdirSync(join(ROOT, 'ui/dist/assets')).filter((f) => /^index-.*\.js$/.test(f))
  t.ok(scripts.length > 0, 'the build has an entry script')
  const res = await fetch(`${ctx.url}/assets/${scripts[0]}`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /javascript/)
  t.match(res.headers.get('cache-control'), /immutable/)
  const missing = await fetch(`${ctx.url}/assets/nope.js`)
  t.equal(missing.status, 404)
  t.same(await missing.json(), { error: { code: 'BOLT_STREAM_ROUTE_NOT_FOUND', message: 'Route GET /assets/nope.js not found' } })
  const traversal = await fetch(`${ctx.url}/assets/..%2f..%2fpackage.json`)
  t.not(traversal.status, 200, 'nothing outside the build')
})

t.test('the API keeps its answers: JSON 404s, no page headers, no CORS with CORS_ORIGINS unset', async (t) => {
  const ctx = await build(t, { listen: true })
  for (const path of ['/api/x', '/api/executions/x/y/z', '/health/nope', '/nope', '/executions/a/b']) {
    const res = await fetch(`${ctx.url}${path}`, { headers: { accept: 'text/html' } })
    t.equal(res.status, 404, `${path} is not a page`)
    t.match(res.headers.get('content-type'), /^application\/json/)
    t.equal((await res.json() as { error: { code: string } }).error.code, 'BOLT_STREAM_ROUTE_NOT_FOUND')
  }
  const api = await fetch(`${ctx.url}/api/executions`, { headers: { origin: 'https://elsewhere.example' } })
  t.equal(api.status, 200)
  t.equal(api.headers.get('content-security-policy'), null, 'the API has no page headers')
  t.equal(api.headers.get('x-frame-options'), null)
  t.equal(api.headers.get('access-control-allow-origin'), null, 'same origin only')
  const health = await fetch(`${ctx.url}/health/live`)
  t.equal(health.status, 200)
  t.equal(health.headers.get('content-security-policy'), null)
})

t.test('before the build, pages answer 503 saying to build, and the API works', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'bolt-stream-no-viewer-'))
  t.teardown(() => rmSync(empty, { recursive: true, force: true }))
  const ctx = await build(t, { listen: true, env: { VIEWER_DIR: empty } })
  for (const path of ['/', '/executions/3f1c2a4e-8d5b-4c1a-9e2f-7a6b5c4d3e2f', '/run']) {
    const res = await fetch(`${ctx.url}${path}`)
    t.equal(res.status, 503, `${path}: 503`)
    const body = await res.json() as { error: { code: string, message: string } }
    t.equal(body.error.code, 'BOLT_STREAM_VIEWER_NOT_BUILT')
    t.match(body.error.message, /npm run build/)
  }
  t.equal((await fetch(`${ctx.url}/assets/index.js`)).status, 404)
  t.equal((await fetch(`${ctx.url}/api/info`)).status, 200)
})

t.test('GET /api/info: name, version, demo mode, whether a token is needed; public', async (t) => {
  const open = await build(t, { listen: true })
  const info = await (await fetch(`${open.url}/api/info`)).json()
  t.same(info, { service: 'bolt-stream', version: (await import('../../package.json', { with: { type: 'json' } })).default.version, demoMode: false, authRequired: false })

  const tokens = makeTokens({ ops: ['read'] })
  const closed = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env, DEMO_MODE: 'true' } })
  const res = await fetch(`${closed.url}/api/info`)
  t.equal(res.status, 200, 'no token needed')
  t.same(await res.json(), { ...info, demoMode: true, authRequired: true })
  t.equal((await fetch(`${closed.url}/api/executions`)).status, 401, 'the rest still needs one')
})
