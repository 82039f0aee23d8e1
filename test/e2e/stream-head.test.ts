import t from 'tap'
import { build, getJson, makeTokens, openStream, postJson } from '../helper.js'

// HEAD on a stream answers the stream's headers at once: it is not a stream, so it takes no
// stream slot, never subscribes and never spends a ticket.

const tokens = makeTokens({ ops: ['read', 'execute', 'expert'], viewer: ['read'] })

t.test('HEAD on a running execution\'s stream answers at once, holds no slot and spends no ticket', async (t) => {
  const ctx = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env, MAX_STREAMS_PER_CLIENT: '2' } })
  const started = await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: 'sleep 30', expertMode: true }, tokens.auth('ops'))
  const id = started.json.executionId as string
  const url = `${ctx.url}/api/executions/${id}/stream`
  const stats = async (): Promise<Record<string, number>> => (await getJson(`${ctx.url}/api/streaming/stats`, tokens.auth('viewer'))).json

  // More HEADs than the client may hold streams; each is answered while the execution runs.
  for (let i = 0; i < 5; i++) {
    const res = await fetch(url, { method: 'HEAD', headers: { ...tokens.auth('viewer'), accept: 'text/event-stream' } })
    t.equal(res.status, 200, `HEAD ${i + 1}: 200`)
    t.match(res.headers.get('content-type'), /^text\/event-stream/, `HEAD ${i + 1}: the stream's content type`)
    t.equal(res.headers.get('cache-control'), 'no-cache, no-transform')
  }
  t.equal((await getJson(`${ctx.url}/api/executions/${id}`, tokens.auth('viewer'))).json.status, 'running', 'answered before the execution ended')
  const after = await stats()
  t.equal(after.subscribers, 0, 'no open stream')
  t.equal(after.liveSubscribers, 0, 'no subscriber')

  // A ticket checked by HEAD is still good for the stream.
  const ticket = await (await fetch(`${url}-ticket`, { method: 'POST', headers: tokens.auth('viewer') })).json() as { streamUrl: string }
  const head = await fetch(`${ctx.url}${ticket.streamUrl}`, { method: 'HEAD' })
  t.equal(head.status, 200, 'HEAD with a ticket')
  const stream = await openStream(`${ctx.url}${ticket.streamUrl}`)
  t.equal(stream.status, 200, 'the same ticket then opens the stream: HEAD did not spend it')
  await stream.waitFor((e) => e.event === 'start')
  const second = await openStream(url, tokens.auth('viewer'))
  t.equal(second.status, 200, 'a second stream fits: HEADs took no slot')
  stream.close()
  second.close()

  // The same checks as GET.
  t.equal((await fetch(url, { method: 'HEAD' })).status, 401, 'no credentials: 401')
  const unknown = `${ctx.url}/api/executions/00000000-0000-4000-8000-000000000000/stream`
  t.equal((await fetch(unknown, { method: 'HEAD', headers: tokens.auth('viewer') })).status, 404, 'unknown execution: 404')
  t.equal((await fetch(url, { method: 'HEAD', headers: { ...tokens.auth('viewer'), accept: 'application/json' } })).status, 406, 'not accepted: 406')
  await fetch(`${ctx.url}/api/executions/${id}/cancel`, { method: 'POST', headers: tokens.auth('ops') })
})
