import t from 'tap'
import { build } from '../helper.js'

t.test('POSTs beyond RATE_LIMIT_MAX per window get 429 JSON with Retry-After; GETs are not counted', async (t) => {
  const { app, spawns } = await build(t, { env: { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' } })
  const post = () => app.inject({ method: 'POST', url: '/api/commands', payload: { targets: ['a'], command: 'true' } })
  for (let i = 0; i < 3; i++) t.equal((await post()).statusCode, 202)
  for (let i = 0; i < 5; i++) t.equal((await app.inject('/api/executions')).statusCode, 200, 'reads are not limited')
  const refused = await post()
  t.equal(refused.statusCode, 429)
  t.match(refused.headers['content-type'], /^application\/json/)
  t.equal(refused.json().error.code, 'BOLT_STREAM_RATE_LIMITED')
  t.match(refused.json().error.message, /at most 3 per 60 s/)
  t.ok(Number(refused.headers['retry-after']) > 0, `Retry-After ${String(refused.headers['retry-after'])}`)
  // A malformed POST is counted too, and still refused before anything runs.
  t.equal((await app.inject({ method: 'POST', url: '/api/commands', payload: { targets: ['-x'], command: 'true' } })).statusCode, 429)
  t.ok(spawns().length <= 3, 'nothing beyond the allowance ran')
})
