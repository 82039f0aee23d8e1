import t from 'tap'
import { acceptsEventStream } from '../../services/streaming/negotiation.js'
import { build } from '../helper.js'

const UUID = '00000000-0000-4000-8000-000000000000'

t.test('errors raised before our handlers still answer {error: {code, message}}', async (t) => {
  const { app, spawns } = await build(t)
  const cases: Array<[string, Record<string, string>, number, string]> = [
    [`/api/executions/${UUID}/stream`, { accept: 'application/json' }, 406, 'BOLT_STREAM_NOT_ACCEPTABLE'],
    [`/api/executions/${UUID}/stream`, { accept: 'text/event-stream;q=0, */*' }, 406, 'BOLT_STREAM_NOT_ACCEPTABLE'],
    [`/api/executions/${'a'.repeat(101)}`, {}, 414, 'BOLT_STREAM_URI_TOO_LONG'],
    ['/api/executions/%', {}, 400, 'BOLT_STREAM_BAD_URL'],
    ['/api/executions/%ZZ', {}, 400, 'BOLT_STREAM_BAD_URL']
  ]
  for (const [url, headers, status, code] of cases) {
    const res = await app.inject({ url, headers })
    t.equal(res.statusCode, status, url.slice(0, 40))
    t.match(res.headers['content-type'], /^application\/json/)
    t.same(Object.keys(res.json()), ['error'])
    t.equal(res.json().error.code, code)
    t.notMatch(res.json().error.message, /aaaaaaaa|%ZZ/, 'the path is not echoed back')
  }
  // Absent, wildcard or explicit Accept values reach the stream route (here: 404 for an unknown id).
  for (const accept of [undefined, '*/*', 'text/*', 'text/event-stream', 'application/json, text/event-stream;q=0.5']) {
    const res = await app.inject({ url: `/api/executions/${UUID}/stream`, headers: accept === undefined ? {} : { accept } })
    t.equal(res.statusCode, 404, `Accept ${String(accept)}`)
  }
  const huge = await app.inject({
    method: 'POST',
    url: '/api/tasks',
    headers: { 'content-type': 'application/json' },
    payload: '{"targets":["web1"],"task":"demo::echo","params":{"n":1e999}}'
  })
  t.equal(huge.statusCode, 400, 'a number JSON cannot carry is refused, not turned into null')
  t.equal(huge.json().error.code, 'BOLT_STREAM_INVALID_INPUT')
  t.equal(spawns().length, 0)
})

t.test('acceptsEventStream follows the most specific range and q=0', async (t) => {
  t.ok(acceptsEventStream(undefined))
  t.ok(acceptsEventStream('text/event-stream'))
  t.ok(acceptsEventStream('*/*'))
  t.notOk(acceptsEventStream('application/json'))
  t.notOk(acceptsEventStream('*/*, text/event-stream;q=0'))
  t.ok(acceptsEventStream('text/event-stream, */*;q=0'))
})
