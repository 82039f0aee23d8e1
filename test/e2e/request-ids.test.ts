import t from 'tap'
import { build, openStream, postJson, until } from '../helper.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

t.test('X-Request-Id: a valid one is kept, returned and logged; otherwise one is made', async (t) => {
  const ctx = await build(t, { listen: true, captureLogs: true })
  const given = await fetch(`${ctx.url}/health/live`, { headers: { 'x-request-id': 'edge-7f3e/42:a.b' } })
  t.equal(given.headers.get('x-request-id'), 'edge-7f3e/42:a.b', 'the caller\'s id comes back')
  t.ok(ctx.logs().some((l) => l.reqId === 'edge-7f3e/42:a.b' && l.msg === 'request completed'), 'and is the log lines\' reqId')

  const made = (await fetch(`${ctx.url}/health/live`)).headers.get('x-request-id')
  t.match(made, UUID, 'none given: a UUID')
  for (const bad of ['x'.repeat(129), 'has space', 'semi;colon', 'quote"d', 'ünïcode']) {
    const res = await fetch(`${ctx.url}/health/live`, { headers: { 'x-request-id': Buffer.from(bad, 'utf8').toString('latin1') } })
    const id = res.headers.get('x-request-id')
    t.match(id, UUID, `${JSON.stringify(bad.slice(0, 20))} is replaced by a UUID`)
  }
  const a = (await fetch(`${ctx.url}/health/live`)).headers.get('x-request-id')
  t.not(a, made, 'each request gets its own')

  // Errors and streams carry it too.
  const notFound = await fetch(`${ctx.url}/api/executions/00000000-0000-4000-8000-000000000000`, { headers: { 'x-request-id': 'lost-1' } })
  t.equal(notFound.status, 404)
  t.equal(notFound.headers.get('x-request-id'), 'lost-1')
  const start = await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: 'echo hi' }, { 'x-request-id': 'start-1' })
  t.equal(start.headers.get('x-request-id'), 'start-1')
  const stream = await openStream(`${ctx.url}/api/executions/${start.json.executionId}/stream`, { 'x-request-id': 'stream-1' })
  t.equal(stream.headers['x-request-id'], 'stream-1', 'on the event stream')
  await stream.ended
})

t.test('every log line about an execution carries its executionId', async (t) => {
  const ctx = await build(t, { listen: true, captureLogs: true, env: { BOLT_KILL_GRACE_MS: '200' } })
  const start = await postJson(`${ctx.url}/api/commands`, { targets: ['a', 'b'], command: 'trap "" TERM; echo started; sleep 30', expertMode: true }, { 'x-request-id': 'run-1' })
  const id = start.json.executionId as string
  const stream = await openStream(`${ctx.url}/api/executions/${id}/stream`)
  await stream.waitFor((e) => e.event === 'stdout')
  await fetch(`${ctx.url}/api/executions/${id}`)
  await fetch(`${ctx.url}/api/executions/${id}/events?after=0`)
  await postJson(`${ctx.url}/api/executions/${id}/cancel`, {})
  await stream.ended
  // Cancelling a command that ignores SIGTERM: the runner's escalation lines are about it too.
  await until(() => ctx.logText().includes('sending SIGKILL'), 10_000, 'the SIGKILL escalation to be logged')
  await until(() => ctx.logs().some((l) => l.msg === 'execution finished'), 10_000, 'the end to be logged')

  const about = ctx.logs().filter((l) => JSON.stringify(l).includes(id) || l.executionId !== undefined)
  t.ok(about.length >= 8, `${about.length} lines about the execution`)
  for (const line of about) t.equal(line.executionId, id, `"${line.msg}" carries the executionId`)
  const messages = new Set(about.map((l) => l.msg))
  for (const msg of ['execution accepted', 'incoming request', 'request completed', 'execution finished']) t.ok(messages.has(msg), `"${msg}" is among them`)
  t.ok(about.some((l) => /SIGKILL/.test(l.msg)), 'the Bolt runner\'s lines are among them')
  t.ok(about.some((l) => l.msg === 'execution accepted' && l.reqId === 'run-1'), 'the acceptance ties the request id to the execution')
})
