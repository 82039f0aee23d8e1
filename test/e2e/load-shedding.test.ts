import t from 'tap'
import { build, openStream, postJson, until } from '../helper.js'

// A blocked event loop: the loop is held busy most of the time, with short gaps in which requests
// (and this test's own clients, in the same process) still get through.
function blockTheLoop (): () => void {
  const timer = setInterval(() => {
    const end = performance.now() + 250
    while (performance.now() < end) { /* busy */ }
  }, 10)
  return () => clearInterval(timer)
}

t.test('a blocked event loop: readiness and new executions 503 with Retry-After, streams go on, liveness 200', async (t) => {
  // The blocker holds the loop 250 ms of every ~260: every sample's mean delay is far above 80 ms,
  // which a loaded test machine on its own does not keep up for a whole sample.
  const ctx = await build(t, { listen: true, env: { SHED_MAX_EVENT_LOOP_DELAY_MS: '80', SHED_SAMPLE_INTERVAL_MS: '50' } })
  // A busy machine may shed for a moment on its own: start once it is ready.
  await until(async () => (await fetch(`${ctx.url}/health/ready`)).status === 200, 20_000, 'readiness before the load')
  const running = await postJson(`${ctx.url}/api/commands`, {
    targets: ['a'], command: 'for i in $(seq 1 600); do echo line $i; sleep 0.05; done', expertMode: true
  })
  t.equal(running.status, 202)
  const id = running.json.executionId as string
  const stream = await openStream(`${ctx.url}/api/executions/${id}/stream`)
  t.teardown(() => stream.close())
  await stream.waitFor((e) => e.event === 'stdout')
  const spawned = ctx.spawns().length

  const unblock = blockTheLoop()
  t.teardown(unblock)
  let ready: Response | undefined
  await until(async () => {
    ready = await fetch(`${ctx.url}/health/ready`)
    return ready.status === 503
  }, 20_000, 'readiness to fail under load')
  t.equal(ready!.headers.get('retry-after'), '5', 'readiness: Retry-After')
  t.match(await ready!.json(), { status: 'overloaded', reason: /event loop/ })
  const seenWhenShed = stream.events.length

  const refused = await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: 'echo more' })
  t.equal(refused.status, 503, 'a new execution is refused')
  t.equal(refused.headers.get('retry-after'), '5')
  t.equal(refused.json.error.code, 'BOLT_STREAM_OVERLOADED')
  const rerun = await postJson(`${ctx.url}/api/executions/${id}/rerun`, {})
  t.equal(rerun.status, 503, 'so is a re-run')
  t.equal((await fetch(`${ctx.url}/health/live`)).status, 200, 'liveness stays 200')
  t.equal((await fetch(`${ctx.url}/api/executions/${id}`)).status, 200, 'reads are served')

  // The open stream is not cut: it keeps receiving the execution's output.
  await stream.waitFor((e) => e.event === 'stdout' && stream.events.indexOf(e) > seenWhenShed + 3, 20_000)
  t.pass(`the stream received ${stream.events.length - seenWhenShed} more events while load was shed`)
  t.equal(ctx.spawns().length, spawned, 'nothing was spawned for the refused requests')

  unblock()
  await until(async () => (await fetch(`${ctx.url}/health/ready`)).status === 200, 20_000, 'readiness to recover')
  const after = await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: 'echo again' })
  t.equal(after.status, 202, 'executions are accepted again')
  await postJson(`${ctx.url}/api/executions/${id}/cancel`, {})
  await stream.ended
})
