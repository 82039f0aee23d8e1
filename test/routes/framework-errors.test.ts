import t from 'tap'
import { acceptsEventStream, resumePoint } from '../../services/streaming/negotiation.js'
import { build, startExecution, waitFinished } from '../helper.js'

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

t.test('Last-Event-ID: one rule for the header and ?lastEventId= (blanks around the number ignored)', async (t) => {
  // HTTP strips spaces and tabs around a header value before it reaches us; the query is read alike.
  for (const [header, query] of [[' 3 ', undefined], [undefined, ' 3 '], [undefined, '\t3'], ['3', '9'], ['  ', '3']] as const) {
    t.equal(resumePoint(header, query), 3, `header ${JSON.stringify(header)} query ${JSON.stringify(query)}: 3`)
  }
  for (const [header, query] of [[undefined, '3\n'], ['3 4', undefined], [undefined, '+3'], ['x', '3']] as const) {
    t.throws(() => resumePoint(header, query), { code: 'BOLT_STREAM_INVALID_EVENT_ID' }, `header ${JSON.stringify(header)} query ${JSON.stringify(query)}: refused`)
  }
  const { app } = await build(t)
  const id = await startExecution(app, '/api/commands', { targets: ['a'], command: 'echo hi' })
  await waitFinished(app, id)
  for (const [name, url, headers] of [
    ['header " 1 "', `/api/executions/${id}/stream`, { 'last-event-id': ' 1 ' }],
    ['?lastEventId=%201%20', `/api/executions/${id}/stream?lastEventId=%201%20`, {}]
  ] as const) {
    const res = await app.inject({ url, headers: { accept: 'text/event-stream', ...headers } })
    t.equal(res.statusCode, 200, `${name}: 200`)
    t.match(res.body, /"resumeAfter":1,/, `${name}: resumes after 1`)
  }
})
