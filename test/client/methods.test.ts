import { createServer } from 'node:net'
import t from 'tap'
import { BoltStreamClient, BoltStreamError, type LoggedEvent } from '../../client/index.js'
import { build, makeTokens, until } from '../helper.js'

async function finish (client: BoltStreamClient, id: string): Promise<LoggedEvent[]> {
  const events: LoggedEvent[] = []
  for await (const event of client.follow(id)) events.push(event)
  return events
}

const UNKNOWN = '00000000-0000-4000-8000-000000000000'

t.test('every method against the service', async (t) => {
  const { url } = await build(t, { listen: true })
  const requests: string[] = []
  const client = new BoltStreamClient({
    baseUrl: `${url}/`,
    fetch: (input, init) => { requests.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`); return fetch(input, init) }
  })

  t.test('runs: command, task, plan, puppet, package', async (t) => {
    const command = await client.runCommand({ targets: ['a'], command: 'echo hi', expertMode: true })
    t.match(command, { executionId: /^[0-9a-f-]{36}$/, status: /queued|running/, streamUrl: `/api/executions/${command.executionId}/stream` })
    t.equal((await finish(client, command.executionId)).at(-1)?.type, 'complete')

    const task = await client.runTask({ targets: ['a'], task: 'demo::echo', params: { message: 'hello' } })
    await finish(client, task.executionId)
    const taskRecord = await client.getExecution(task.executionId)
    t.match(taskRecord, { type: 'task', action: 'demo::echo', status: 'success', request: { task: 'demo::echo', params: { message: 'hello' } } })

    const plan = await client.runPlan({ plan: 'demo::deploy', params: { targets: 'a', version: '2.0' } })
    const planEvents = await finish(client, plan.executionId)
    t.match(planEvents.at(-1), { type: 'complete', data: { status: 'success' } })
    t.match(await client.getExecution(plan.executionId), { type: 'plan', action: 'demo::deploy', request: { plan: 'demo::deploy', params: { version: '2.0' } } })

    const puppet = await client.runPuppet({ targets: ['a'], noop: true, tags: ['ntp'] })
    await finish(client, puppet.executionId)
    t.match(await client.getExecution(puppet.executionId), { type: 'puppet', action: 'puppet agent', request: { noop: true, tags: ['ntp'] } })

    const pkg = await client.installPackage({ targets: ['a'], name: 'curl', action: 'status' })
    await finish(client, pkg.executionId)
    t.match(await client.getExecution(pkg.executionId), { type: 'package', action: 'curl', request: { name: 'curl', action: 'status' } })
    t.same(requests.filter((r) => r.startsWith('POST')).slice(0, 5),
      ['POST /api/commands', 'POST /api/tasks', 'POST /api/plans', 'POST /api/puppet-runs', 'POST /api/packages'])
  })

  t.test('reading: list with filters and pages, events, output, ticket', async (t) => {
    const a = await client.runCommand({ targets: ['a', 'b'], command: 'echo line-a', expertMode: true })
    await finish(client, a.executionId)
    const fail = await client.runCommand({ targets: ['c'], command: 'exit 4' })
    await finish(client, fail.executionId)

    const failed = await client.listExecutions({ status: 'failed', target: 'c' })
    t.same(failed.executions.map((r) => r.id), [fail.executionId], 'status and target filters')
    const commands = await client.listExecutions({ type: 'command', limit: 1 })
    t.equal(commands.executions.length, 1)
    t.type(commands.nextCursor, 'string')
    const next = await client.listExecutions({ type: 'command', limit: 1, cursor: commands.nextCursor! })
    t.not(next.executions[0].id, commands.executions[0].id, 'the cursor pages on')
    const since = await client.listExecutions({ since: new Date(Date.now() + 60_000).toISOString() })
    t.same(since.executions, [], 'since in the future: none')

    const page1 = await client.events(a.executionId, { limit: 2 })
    t.equal(page1.events.length, 2)
    const page2 = await client.events(a.executionId, { after: page1.nextAfter })
    t.equal(page2.events[0].seq, page1.events[1].seq + 1, 'pages follow each other')
    t.equal(page2.events.at(-1)?.type, 'complete')

    t.match(await client.output(a.executionId), /^\[a\] line-a$/m)
    t.equal(await client.output(a.executionId, { target: 'b' }), 'line-a\n', 'one target, as printed')
    t.equal(await client.output(a.executionId, { target: 'b', source: 'live', stream: 'stderr' }), '', 'live log, stderr only')

    const ticket = await client.streamTicket(a.executionId)
    t.match(ticket, { ticket: /^[A-Za-z0-9_-]{20,}$/, streamUrl: `/api/executions/${a.executionId}/stream?ticket=${ticket.ticket}` })
    t.ok(Date.parse(ticket.expiresAt) > Date.now())
  })

  t.test('cancel, rerun, delete', async (t) => {
    const long = await client.runCommand({ targets: ['a'], command: 'sleep 30' })
    await until(async () => (await client.getExecution(long.executionId)).status === 'running', 10_000, 'running')
    const cancelled = await client.cancel(long.executionId)
    t.equal(cancelled.executionId, long.executionId)
    t.match((await finish(client, long.executionId)).at(-1), { type: 'error', data: { status: 'cancelled' } })
    await t.rejects(client.cancel(long.executionId), { name: 'BoltStreamError', status: 409 }, 'cancelling a finished one: 409')

    const partial = await client.runCommand({ targets: ['a', 'unreachable1'], command: 'true' })
    await finish(client, partial.executionId)
    const onlyFailed = await client.rerun(partial.executionId, { targets: 'failed' })
    t.match(await client.getExecution(onlyFailed.executionId), { targets: ['unreachable1'], rerunOf: partial.executionId })
    const viaOnly = await client.rerun(partial.executionId, { only: 'failed' })
    t.match(await client.getExecution(viaOnly.executionId), { targets: ['unreachable1'] })
    const all = await client.rerun(partial.executionId)
    t.match(await client.getExecution(all.executionId), { targets: ['a', 'unreachable1'] })
    const reruns = await client.listExecutions({ rerunOf: partial.executionId })
    t.equal(reruns.executions.length, 3)

    for (const id of [onlyFailed.executionId, viaOnly.executionId, all.executionId]) await finish(client, id)
    await client.deleteExecution(all.executionId)
    await t.rejects(client.getExecution(all.executionId), { status: 404, code: 'BOLT_STREAM_EXECUTION_NOT_FOUND' })
  })

  t.test('discovery', async (t) => {
    const tasks = await client.tasks()
    t.ok(tasks.some((task) => task.name === 'demo::echo'))
    t.match(await client.task('demo::echo'), { name: 'demo::echo', supportsNoop: true, inputMethod: 'stdin' })
    t.ok((await client.plans({ refresh: true })).some((plan) => plan.name === 'demo::deploy'))
    t.match(await client.plan('demo::deploy'), { name: 'demo::deploy', language: 'yaml', parameters: [{ name: 'targets' }, { name: 'version', default: '1.0' }] })
    const groups = await client.groups()
    t.equal(groups[0].name, 'all')
    t.ok(groups.some((g) => g.name === 'unreachable'))
    const unreachable = await client.targets({ group: 'unreachable' })
    t.ok(unreachable.length > 0 && unreachable.every((target) => target.groups.includes('unreachable')))
    await t.rejects(client.targets({ group: 'nosuchgroup' }), { status: 404, code: 'BOLT_STREAM_GROUP_NOT_FOUND' })
    await t.rejects(client.task('demo::nosuch'), { status: 404, code: 'BOLT_STREAM_TASK_NOT_FOUND' })
  })
})

t.test('errors carry the API\'s status, code and message', async (t) => {
  const tokens = makeTokens({ reader: ['read'] })
  const { url } = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env } })
  const reader = new BoltStreamClient({ baseUrl: url, token: tokens.token.reader })

  const notFound = await reader.getExecution(UNKNOWN).catch((e: unknown) => e)
  t.ok(notFound instanceof BoltStreamError)
  t.match(notFound, { name: 'BoltStreamError', status: 404, code: 'BOLT_STREAM_EXECUTION_NOT_FOUND', message: `Execution '${UNKNOWN}' not found` })
  await t.rejects(reader.getExecution('nope'), { name: 'BoltStreamError', status: 400 })
  await t.rejects(new BoltStreamClient({ baseUrl: url }).listExecutions(), { status: 401, code: 'BOLT_STREAM_UNAUTHORIZED' })
  await t.rejects(reader.runCommand({ targets: ['a'], command: 'true' }), { status: 403, code: 'BOLT_STREAM_FORBIDDEN' })
  await t.rejects(reader.listExecutions({ status: 'nope' as never }), { status: 400, code: /^BOLT_STREAM_/ })
  await t.rejects(reader.events(UNKNOWN), { name: 'BoltStreamError', status: 404 })
})

t.test('a request that cannot connect is a BoltStreamError with the system code', async (t) => {
  // A port nothing listens on any more.
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const dead = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  await new Promise<void>((resolve) => server.close(() => resolve()))
  const client = new BoltStreamClient({ baseUrl: dead })
  await t.rejects(client.listExecutions(), { name: 'BoltStreamError', code: 'ECONNREFUSED', status: undefined, message: `Cannot reach ${dead}/api/executions: connect ECONNREFUSED` })
})

t.test('429 with Retry-After gives retryAfterMs', async (t) => {
  const { url } = await build(t, { listen: true, env: { RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW_MS: '60000' } })
  const client = new BoltStreamClient({ baseUrl: url })
  await client.runCommand({ targets: ['a'], command: 'true' })
  const err = await client.runCommand({ targets: ['a'], command: 'true' }).catch((e: unknown) => e) as BoltStreamError
  t.equal(err.status, 429)
  t.equal(err.code, 'BOLT_STREAM_RATE_LIMITED')
  t.ok(err.retryAfterMs !== undefined && err.retryAfterMs > 0 && err.retryAfterMs <= 60_000, `retryAfterMs ${err.retryAfterMs}`)
})
