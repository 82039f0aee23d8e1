// Plans through the HTTP API with the Bolt stand-in (a real process, held to the captures p01–p17)
// in the project the captures ran in: live output while the plan runs, the return value of every
// kind in the record and the `complete` event, each failure kind, the allowlist, hostile names and
// parameters refused before anything is spawned, cancel, redaction and re-runs.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { build, getRecord, makeTokens, openStream, startExecution, until, waitFinished } from '../helper.js'
import { copyProject } from '../fixtures/projects.js'

const CASES = fileURLToPath(new URL('../fixtures/captures/cases/', import.meta.url))
/** The return value real Bolt printed: the last line of the case's stdout. */
const capturedReturn = (name: string): unknown => JSON.parse(readFileSync(join(CASES, `${name}.stdout`), 'utf8').trimEnd().split('\n').at(-1)!)
const capturedError = (name: string): { kind: string, msg: string } => capturedReturn(name) as { kind: string, msg: string }

/** The captured project, with a few plans of our own that return other kinds of values. */
function planProject (t: Test): string {
  const dir = copyProject('captured', mkdtempSync(join(tmpdir(), 'bolt-plans-')))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const plans = join(dir, 'modules/mymod/plans')
  writeFileSync(join(plans, 'retstring.pp'), "plan mymod::retstring() {\n  return('just text')\n}\n")
  // An array whose text holds what a stream line looks like: it must not be taken for one.
  writeFileSync(join(plans, 'retarray.pp'), "plan mymod::retarray() {\n  return([1, 'x] out: y', { 'k' => 'v' }])\n}\n")
  writeFileSync(join(plans, 'retbig.pp'), `plan mymod::retbig() {\n  return({ 'text' => '${'x'.repeat(5000)}' })\n}\n`)
  writeFileSync(join(plans, 'slow.pp'), "plan mymod::slow(TargetSpec $targets) {\n  run_command('echo started; sleep 30; echo never', $targets)\n}\n")
  return dir
}

const onProject = async (t: Test, env: Record<string, string> = {}, listen = false) => {
  const project = planProject(t)
  return { project, ...await build(t, { env: { BOLT_PROJECT: project, ...env }, listen }) }
}

t.test('a plan streams its targets\' output live and ends with its return value (p01)', async (t) => {
  const { app, url, spawns } = await onProject(t, {}, true)
  const id = await startExecution(app, '/api/plans', { plan: 'mymod::myplan', targets: ['localhost'], expertMode: true })
  const stream = await openStream(`${url}/api/executions/${id}/stream`)
  const step1 = await stream.waitFor((e) => e.event === 'stdout' && String(e.payload.data.output).includes('step 1'))
  t.same(step1.payload.data, { target: 'localhost', output: 'step 1\n' })
  t.equal((await getRecord(app, id)).status, 'running', 'the first line arrived while the plan ran')
  const message = await stream.waitFor((e) => e.event === 'stderr' && e.payload.data.target === null && String(e.payload.data.output).includes('hello from plan'))
  t.equal(message.payload.data.output, 'hello from plan\n', "out::message reaches the stream as Bolt's own message")
  const complete = await stream.waitFor((e) => e.event === 'complete', 20_000)
  await stream.ended

  const expected = capturedReturn('p01-pp-stream')
  t.same(complete.payload.data.result, expected, 'the return value real Bolt printed')
  t.equal(complete.payload.data.status, 'success')
  t.same(complete.payload.data.results, [], 'a hash is no ResultSet: no per-target results')
  const record = await getRecord(app, id)
  t.same(record.result, expected, 'the record keeps it')
  t.equal(record.type, 'plan')
  t.equal(record.action, 'mymod::myplan')
  t.same(record.request, { plan: 'mymod::myplan', params: {}, redacted: false })
  const steps = stream.events.filter((e) => e.event === 'stdout').map((e) => e.payload.data.output)
  t.same(steps.slice(0, 3), ['step 1\n', 'step 2\n', 'step 3\n'])
  const argv = spawns()[0].argv
  t.same(argv.slice(0, 2), ['plan', 'run'])
  t.ok(argv.includes('--targets=localhost') && argv.includes('--params={}') && argv.at(-1) === 'mymod::myplan', argv.join(' '))
})

t.test('return values of every kind', async (t) => {
  const { app } = await onProject(t)
  const run = async (body: Record<string, unknown>) => waitFinished(app, await startExecution(app, '/api/plans', body), 20_000)
  const [string, array, nothing, resultSet, params] = await Promise.all([
    run({ plan: 'mymod::retstring' }),
    run({ plan: 'mymod::retarray' }),
    run({ plan: 'mymod::noreturn' }),
    run({ plan: 'mymod::retresult', targets: ['localhost', 'second'] }),
    run({ plan: 'mymod::yplan', targets: ['localhost'], params: { name: 'yjson' } })
  ])
  t.equal(string.status, 'success')
  t.equal(string.result, 'just text', 'a string')
  t.same(string.targets, [], 'no --targets given')
  t.same(array.result, [1, 'x] out: y', { k: 'v' }], 'an array whose text looks like a stream line')
  t.equal(nothing.status, 'success')
  t.equal(nothing.result, null, 'nothing returned: null (p11)')
  t.ok('result' in nothing)

  t.same(resultSet.result, capturedReturn('p16-pp-return-resultset'), 'a ResultSet as real Bolt printed it')
  t.equal(resultSet.status, 'success')
  t.same(resultSet.results, [
    { target: 'localhost', status: 'success', exitCode: 0, stdout: 'hi\n', stderr: '' },
    { target: 'second', status: 'success', exitCode: 0, stdout: 'hi\n', stderr: '' }
  ], 'and per target in the usual shape')

  t.same(params.result, capturedReturn('p07-yaml-params-json'), 'a YAML plan with JSON parameters (p07)')
})

t.test('a return value over the output budget is left out and flagged', async (t) => {
  const { app } = await onProject(t, { MAX_OUTPUT_BYTES: '4096' })
  const record = await waitFinished(app, await startExecution(app, '/api/plans', { plan: 'mymod::retbig' }))
  t.equal(record.status, 'success')
  t.notOk('result' in record, 'not cut into something the plan did not return')
  t.equal(record.resultTruncated, true)
  t.equal(record.outputTruncated, true)
})

t.test('each failure kind ends the plan failed with Bolt\'s kind and message', async (t) => {
  const { app } = await onProject(t)
  const run = async (body: Record<string, unknown>) => waitFinished(app, await startExecution(app, '/api/plans', body), 20_000)
  const cases: Array<[string, Record<string, unknown>]> = [
    ['p08-pp-failplan', { plan: 'mymod::failplan', targets: ['localhost'] }],
    ['p09-yaml-failplan', { plan: 'mymod::yfail' }],
    ['p10-unknown-plan', { plan: 'mymod::nosuch', targets: ['localhost'] }],
    ['p04c-pp-badtype', { plan: 'mymod::myplan', targets: ['localhost'], params: { count: 'notanint' } }],
    ['p04d-pp-missing-param', { plan: 'mymod::myplan' }],
    ['p12-pp-cmdfail', { plan: 'mymod::cmdfail', targets: ['localhost'] }]
  ]
  const records = await Promise.all(cases.map(([, body]) => run(body)))
  for (const [i, [name]] of cases.entries()) {
    const { kind, msg } = capturedError(name)
    t.equal(records[i].status, 'failed', name)
    t.same(records[i].error, { kind, message: msg }, `${name}: ${kind}`)
    t.notOk('result' in records[i], `${name}: no return value`)
  }
  t.same(records.map((r) => r.error.kind), [
    'bolt/plan-failure', 'bolt/evaluation-error', 'bolt/unknown-plan', 'bolt/pal-error', 'bolt/pal-error', 'bolt/run-failure'
  ])
  const [failedStep] = records[5].results
  t.match(failedStep, {
    target: 'localhost',
    status: 'failed',
    exitCode: 3,
    stdout: 'before\n',
    error: { kind: 'puppetlabs.tasks/command-error', issueCode: 'COMMAND_ERROR', message: 'The command failed with exit code 3' }
  }, "bolt/run-failure's result_set becomes the per-target results")
  const events = (await app.inject(`/api/executions/${records[5].id}/events`)).json().events
  t.equal(events.at(-1).type, 'error', 'the terminal event is an error')
  t.equal(events.at(-1).data.error.kind, 'bolt/run-failure')
})

t.test('PLAN_ALLOWLIST, hostile names and parameters: refused before anything is spawned', async (t) => {
  const { app, spawns } = await onProject(t, { PLAN_ALLOWLIST: 'mymod::(retstring|noreturn)' })
  const refused = await app.inject({ method: 'POST', url: '/api/plans', payload: { plan: 'mymod::failplan' } })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().error.code, 'BOLT_STREAM_PLAN_NOT_ALLOWED')
  t.match(refused.json().error.message, /PLAN_ALLOWLIST/)
  const deep: unknown = JSON.parse('['.repeat(100) + ']'.repeat(100))
  const bodies: unknown[] = [
    {},
    { plan: '' },
    { plan: '../../etc/passwd' },
    { plan: '--help' },
    { plan: 'mymod::retstring --targets=all' },
    { plan: 'MyMod::Plan' },
    { plan: 'mymod::retstring', params: { 'Bad-Key': 1 } },
    { plan: 'mymod::retstring', params: { _run_as: 'root' } },
    { plan: 'mymod::retstring', params: { deep } },
    { plan: 'mymod::retstring', params: [] },
    { plan: 'mymod::retstring', targets: [] },
    { plan: 'mymod::retstring', targets: ['-oProxyCommand=x'] },
    { plan: 'mymod::retstring', extra: true }
  ]
  for (const payload of bodies) {
    const res = await app.inject({ method: 'POST', url: '/api/plans', payload: payload as object })
    t.equal(res.statusCode, 400, `${JSON.stringify(payload).slice(0, 80)} → ${res.body.slice(0, 160)}`)
    t.match(res.json().error.code, /^BOLT_STREAM_/)
  }
  t.equal(spawns().length, 0, 'Bolt never ran')
  const allowed = await waitFinished(app, await startExecution(app, '/api/plans', { plan: 'mymod::retstring' }))
  t.equal(allowed.status, 'success', 'an allowed plan runs')
})

t.test('cancel ends a running plan and everything it started', async (t) => {
  const { app, url } = await onProject(t, {}, true)
  const id = await startExecution(app, '/api/plans', { plan: 'mymod::slow', targets: ['localhost'], expertMode: true })
  const stream = await openStream(`${url}/api/executions/${id}/stream`)
  await stream.waitFor((e) => e.event === 'stdout' && e.payload.data.output === 'started\n')
  const res = await app.inject({ method: 'POST', url: `/api/executions/${id}/cancel` })
  t.equal(res.statusCode, 202, res.body)
  const end = await stream.waitFor((e) => e.event === 'error')
  t.equal(end.payload.data.status, 'cancelled')
  t.equal((await getRecord(app, id)).status, 'cancelled')
})

t.test('secret-named parameters are redacted, and such a plan cannot be re-run; others can', async (t) => {
  const tokens = makeTokens({ ops: ['read', 'execute', 'expert'] })
  const { app, spawns } = await onProject(t, { AUTH_TOKENS: tokens.env })
  const headers = tokens.auth('ops')
  const post = async (url: string, payload: object) => app.inject({ method: 'POST', url, payload, headers })
  const get = async (id: string) => (await app.inject({ url: `/api/executions/${id}`, headers })).json()
  const finished = async (id: string) => {
    await until(async () => !['queued', 'running'].includes((await get(id)).status), 20_000, 'the plan to end')
    return get(id)
  }
  const secret = await post('/api/plans', { plan: 'mymod::myplan', targets: ['localhost'], params: { name: 'x', password: 'hunter2' }, expertMode: true })
  t.equal(secret.statusCode, 202)
  const secretId = secret.json().executionId
  const record = await get(secretId)
  t.same(record.request, { plan: 'mymod::myplan', params: { name: 'x', password: '[REDACTED]' }, redacted: true })
  t.notMatch(record.command, /hunter2/, 'nor in the command line shown')
  await until(() => spawns().length > 0, 10_000, 'Bolt to start')
  t.match(spawns()[0].argv.join(' '), /hunter2/, 'Bolt itself got the value')
  await app.inject({ method: 'POST', url: `/api/executions/${secretId}/cancel`, headers })
  const refused = await post(`/api/executions/${secretId}/rerun`, {})
  t.equal(refused.statusCode, 409)
  t.match(refused.json().error.message, /secrets/)

  const original = await post('/api/plans', { plan: 'mymod::cmdfail', targets: ['localhost', 'second'] })
  const failed = await finished(original.json().executionId)
  t.equal(failed.status, 'failed')
  const again = await post(`/api/executions/${failed.id}/rerun`, { targets: 'all' })
  t.equal(again.statusCode, 202, again.body)
  const rerun = await finished(again.json().executionId)
  t.equal(rerun.type, 'plan')
  t.equal(rerun.action, 'mymod::cmdfail')
  t.same(rerun.targets, ['localhost', 'second'])
  t.equal(rerun.rerunOf, failed.id)
  t.equal(rerun.status, 'failed')
  t.same(rerun.results.map((r: { target: string }) => r.target), ['localhost', 'second'], 'Bolt ran it on both again')
})
