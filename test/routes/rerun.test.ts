import t from 'tap'
import { build, getRecord, makeTokens, startExecution, waitFinished } from '../helper.js'

// Re-runs through the HTTP API, with the Bolt stand-in (a real child process) as Bolt: a new
// execution of the same operation on all the targets or on the failed ones, or a clear 409.

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000'

t.test('re-running all targets repeats the operation and points back at the original', async (t) => {
  const { app, spawns } = await build(t)
  const original = await waitFinished(app, await startExecution(app, '/api/tasks', {
    targets: ['a', 'b'], task: 'demo::echo', params: { message: 'hello', count: 2 }
  }))
  t.equal(original.status, 'success')
  t.same(original.request, { task: 'demo::echo', params: { message: 'hello', count: 2 }, redacted: false }, 'the record keeps what was asked')
  t.equal(original.rerunOf, null)

  const res = await app.inject({ method: 'POST', url: `/api/executions/${original.id}/rerun`, payload: { targets: 'all' } })
  t.equal(res.statusCode, 202, res.body)
  t.equal(res.headers.location, `/api/executions/${res.json().executionId}`)
  const again = await waitFinished(app, res.json().executionId)
  t.equal(again.type, 'task')
  t.equal(again.action, 'demo::echo')
  t.same(again.targets, ['a', 'b'])
  t.same(again.request, original.request, 'the same parameters')
  t.equal(again.rerunOf, original.id)
  t.equal(again.status, 'success')
  t.same(again.results.map((r: any) => r.value.message), ['hello', 'hello'], 'Bolt ran the task with the same parameters again')
  const taskRuns = spawns().filter((s) => s.argv.includes('demo::echo'))
  t.equal(taskRuns.length, 2, 'Bolt ran twice')
  t.equal(taskRuns[1].argv.find((a) => a.startsWith('--params=')), '--params={"message":"hello","count":2}')

  const list = await app.inject(`/api/executions?rerunOf=${original.id}`)
  t.same(list.json().executions.map((r: any) => r.id), [again.id], '?rerunOf= lists the re-runs')
  t.equal((await app.inject(`/api/executions?rerunOf=${again.id}`)).json().executions.length, 0)
})

t.test('a POST without a body re-runs all the targets', async (t) => {
  const { app } = await build(t)
  const original = await waitFinished(app, await startExecution(app, '/api/commands', { targets: ['a'], command: 'echo hi' }))
  const res = await app.inject({ method: 'POST', url: `/api/executions/${original.id}/rerun` })
  t.equal(res.statusCode, 202, res.body)
  const again = await waitFinished(app, res.json().executionId)
  t.equal(again.action, 'echo hi')
  t.same(again.request, { command: 'echo hi', redacted: false })
  t.equal(again.rerunOf, original.id)
})

t.test('re-running the failed targets runs only those whose result was not a success', async (t) => {
  const { app, spawns } = await build(t)
  const original = await waitFinished(app, await startExecution(app, '/api/commands', {
    targets: ['a', 'unreachable1', 'b', 'unreachable2'], command: 'echo hi'
  }))
  t.equal(original.status, 'partial')
  const res = await app.inject({ method: 'POST', url: `/api/executions/${original.id}/rerun`, payload: { targets: 'failed' } })
  t.equal(res.statusCode, 202, res.body)
  const again = await waitFinished(app, res.json().executionId)
  t.same(again.targets.toSorted(), ['unreachable1', 'unreachable2'])
  t.equal(again.rerunOf, original.id)
  const last = spawns().at(-1)
  t.ok(last?.argv.some((a) => /^--targets=unreachable[12],unreachable[12]$/.test(a)), 'Bolt was given only the failed targets')
})

t.test('an execution without results (Bolt failed as a whole) re-runs all its targets as failed', async (t) => {
  const { app } = await build(t)
  const original = await waitFinished(app, await startExecution(app, '/api/tasks', { targets: ['a'], task: 'demo::nosuchtask' }))
  t.equal(original.status, 'failed')
  t.same(original.results, [])
  const res = await app.inject({ method: 'POST', url: `/api/executions/${original.id}/rerun`, payload: { targets: 'failed' } })
  t.equal(res.statusCode, 202, res.body)
  t.same((await getRecord(app, res.json().executionId)).targets, ['a'])
})

t.test('nothing to re-run, secrets, unknown ids and bad bodies are refused with a clear error', async (t) => {
  const { app, spawns } = await build(t)
  const ok = await waitFinished(app, await startExecution(app, '/api/commands', { targets: ['a'], command: 'true' }))
  const before = spawns().length

  const none = await app.inject({ method: 'POST', url: `/api/executions/${ok.id}/rerun`, payload: { targets: 'failed' } })
  t.equal(none.statusCode, 409)
  t.equal(none.json().error.code, 'BOLT_STREAM_NOTHING_TO_RERUN')

  const secretTask = await waitFinished(app, await startExecution(app, '/api/tasks', {
    targets: ['a'], task: 'demo::echo', params: { user: 'deploy', password: 'hunter2' }
  }))
  t.same(secretTask.request, { task: 'demo::echo', params: { user: 'deploy', password: '[REDACTED]' }, redacted: true })
  const refused = await app.inject({ method: 'POST', url: `/api/executions/${secretTask.id}/rerun` })
  t.equal(refused.statusCode, 409)
  t.equal(refused.json().error.code, 'BOLT_STREAM_NOT_RERUNNABLE')
  t.match(refused.json().error.message, /secrets/)

  const secretCommand = await waitFinished(app, await startExecution(app, '/api/commands', { targets: ['a'], command: 'mysql --password=hunter2 -e "select 1"' }))
  t.equal(secretCommand.request.redacted, true)
  t.notMatch(JSON.stringify(secretCommand), /hunter2/, 'the secret is not stored')
  t.equal((await app.inject({ method: 'POST', url: `/api/executions/${secretCommand.id}/rerun` })).statusCode, 409)

  const unknown = await app.inject({ method: 'POST', url: `/api/executions/${UNKNOWN_ID}/rerun` })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error.code, 'BOLT_STREAM_EXECUTION_NOT_FOUND')
  for (const payload of [{ targets: 'some' }, { targets: ['a'] }, { extra: true }]) {
    const bad = await app.inject({ method: 'POST', url: `/api/executions/${ok.id}/rerun`, payload })
    t.equal(bad.statusCode, 400, JSON.stringify(payload))
    t.equal(bad.json().error.code, 'BOLT_STREAM_VALIDATION_FAILED')
  }
  t.equal(spawns().length, before + 2, 'only the two executions with secrets ran; no refused re-run started Bolt')
})

t.test('a running execution can be re-run on all targets, not on its failed ones', async (t) => {
  const { app } = await build(t)
  const id = await startExecution(app, '/api/commands', { targets: ['a'], command: 'sleep 30' })
  t.teardown(() => app.inject({ method: 'POST', url: `/api/executions/${id}/cancel` }))
  const failed = await app.inject({ method: 'POST', url: `/api/executions/${id}/rerun`, payload: { targets: 'failed' } })
  t.equal(failed.statusCode, 409)
  t.equal(failed.json().error.code, 'BOLT_STREAM_NOT_RERUNNABLE')
  t.match(failed.json().error.message, /still running/)
  const all = await app.inject({ method: 'POST', url: `/api/executions/${id}/rerun`, payload: { targets: 'all' } })
  t.equal(all.statusCode, 202)
  await app.inject({ method: 'POST', url: `/api/executions/${all.json().executionId as string}/cancel` })
})

t.test('a re-run needs the execute scope, and the expert scope for an expert-mode original', async (t) => {
  const tokens = makeTokens({ reader: ['read'], runner: ['read', 'execute'], expert: ['read', 'execute', 'expert'] })
  const { app } = await build(t, { env: { AUTH_TOKENS: tokens.env } })
  const start = async (body: Record<string, unknown>): Promise<string> => {
    const res = await app.inject({ method: 'POST', url: '/api/commands', payload: body, headers: tokens.auth('expert') })
    return res.json().executionId
  }
  const plain = await start({ targets: ['a'], command: 'echo plain' })
  const expert = await start({ targets: ['a'], command: 'echo expert', expertMode: true })
  const post = (id: string, who: string): Promise<any> => app.inject({ method: 'POST', url: `/api/executions/${id}/rerun`, headers: tokens.auth(who) })

  t.equal((await post(plain, 'reader')).statusCode, 403)
  const byRunner = await post(plain, 'runner')
  t.equal(byRunner.statusCode, 202)
  const rerunByRunner = await app.inject({ url: `/api/executions/${byRunner.json().executionId as string}`, headers: tokens.auth('expert') })
  t.equal(rerunByRunner.json().requestedBy, 'runner', 'the re-run is recorded as asked by its own caller')
  t.equal((await post(expert, 'runner')).statusCode, 403, 'expert mode is kept, so it needs the expert scope')
  const byExpert = await post(expert, 'expert')
  t.equal(byExpert.statusCode, 202)
  const record = await app.inject({ url: `/api/executions/${byExpert.json().executionId as string}`, headers: tokens.auth('expert') })
  t.equal(record.json().expertMode, true)
})
