import { readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { build, until, getRecord, startExecution, waitFinished } from '../helper.js'

// The execution records, their listing and cancellation, and the statuses they end in, all
// through the HTTP API with the Bolt stand-in (a real child process) as Bolt.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/
const RECORD_FIELDS = [
  'action', 'command', 'completedAt', 'error', 'expertMode', 'id', 'outputTruncated', 'request', 'requestedBy', 'rerunOf', 'results', 'startedAt',
  'status', 'targets', 'type'
]
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000'

type Body = Record<string, unknown>
type Assert = Pick<typeof t, 'equal' | 'match' | 'same' | 'ok'>

const start = startExecution
const get = getRecord
const finished = waitFinished

async function run (app: FastifyInstance, url: string, body: Body): Promise<any> {
  return finished(app, await start(app, url, body))
}

function expectJsonError (t: Assert, res: { statusCode: number, headers: Record<string, unknown>, body: string }, status: number, code?: string): void {
  t.equal(res.statusCode, status, `status ${status}`)
  t.match(String(res.headers['content-type']), /^application\/json/, 'JSON content type')
  const body = JSON.parse(res.body)
  t.same(Object.keys(body), ['error'], 'only an error object')
  t.match(body.error?.code, /^BOLT_STREAM_/, 'a BOLT_STREAM_ code')
  t.equal(typeof body.error?.message, 'string', 'a message')
  if (code !== undefined) t.equal(body.error.code, code, `code ${code}`)
}

function expectIsoUtc (t: Assert, value: unknown, what: string): void {
  t.match(value, ISO_UTC, `${what} is ISO 8601 UTC`)
  t.equal(new Date(String(value)).toISOString(), value, `${what} round-trips through Date`)
}

t.test('GET /api/executions/:id', async (t) => {
  const { app } = await build(t)

  t.test('a malformed id is a 400', async (t) => {
    expectJsonError(t, await app.inject('/api/executions/not-a-uuid'), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  })

  t.test('an unknown id is a 404', async (t) => {
    const res = await app.inject(`/api/executions/${UNKNOWN_ID}`)
    expectJsonError(t, res, 404, 'BOLT_STREAM_EXECUTION_NOT_FOUND')
    t.match(res.json().error.message, UNKNOWN_ID, 'the message names the id')
  })

  t.test('a finished record has exactly the documented fields', async (t) => {
    const before = Date.now()
    const id = await start(app, '/api/commands', { targets: ['a'], command: 'echo hi' })
    const res = await app.inject(`/api/executions/${id}`)
    t.equal(res.statusCode, 200)
    t.match(String(res.headers['content-type']), /^application\/json/)
    const record = await finished(app, id)
    t.same(Object.keys(record).sort(), RECORD_FIELDS, 'exactly the documented fields')
    t.equal(record.id, id)
    t.match(record.id, UUID)
    t.equal(record.type, 'command')
    t.same(record.targets, ['a'])
    t.equal(record.action, 'echo hi')
    t.equal(record.status, 'success')
    expectIsoUtc(t, record.startedAt, 'startedAt')
    expectIsoUtc(t, record.completedAt, 'completedAt')
    t.ok(Date.parse(record.startedAt) >= before - 1000 && Date.parse(record.startedAt) <= Date.now(), 'startedAt is now')
    t.ok(Date.parse(record.completedAt) >= Date.parse(record.startedAt), 'completedAt is not before startedAt')
    t.equal(record.expertMode, false)
    t.equal(record.command, null, 'no command line outside expert mode')
    t.equal(record.error, null)
    t.equal(record.outputTruncated, false)
    t.equal(record.results.length, 1)
    t.match(record.results[0], { target: 'a', status: 'success', exitCode: 0, stdout: 'hi\n' })
  })

  t.test('a running record has completedAt null', async (t) => {
    const id = await start(app, '/api/commands', { targets: ['a'], command: 'sleep 1' })
    const record = await get(app, id)
    t.same(Object.keys(record).sort(), RECORD_FIELDS, 'exactly the documented fields')
    t.equal(record.status, 'running')
    t.equal(record.completedAt, null)
    t.same(record.results, [])
    t.equal(record.error, null)
    expectIsoUtc(t, record.startedAt, 'startedAt')
    t.equal((await finished(app, id)).status, 'success')
  })

  t.test('expert mode shows the Bolt command line', async (t) => {
    const record = await run(app, '/api/commands', { targets: ['a'], command: 'echo hi', expertMode: true })
    t.equal(record.expertMode, true)
    t.type(record.command, 'string')
    t.ok(String(record.command).startsWith('bolt command run'), `starts with "bolt command run": ${record.command}`)
    t.ok(String(record.command).includes('--targets=a'), 'names the targets')
    t.ok(String(record.command).includes('echo hi'), 'holds the command')
    t.equal(record.status, 'success')
  })

  t.test('action is the command, the task, `puppet agent` or the package name', async (t) => {
    const cases: Array<[string, Body, string, string]> = [
      ['/api/commands', { targets: ['a'], command: 'echo action' }, 'command', 'echo action'],
      ['/api/tasks', { targets: ['a'], task: 'demo::info' }, 'task', 'demo::info'],
      ['/api/puppet-runs', { targets: ['a'] }, 'puppet', 'puppet agent'],
      ['/api/packages', { targets: ['a'], name: 'curl' }, 'package', 'curl']
    ]
    for (const [url, body, type, action] of cases) {
      const record = await run(app, url, body)
      t.equal(record.type, type, `${url}: type ${type}`)
      t.equal(record.action, action, `${url}: action ${action}`)
      t.equal(record.command, null, `${url}: no command line outside expert mode`)
      t.equal(record.status, 'success', `${url}: success`)
    }
  })
})

t.test('GET /api/executions lists, filters and pages', async (t) => {
  const { app } = await build(t)
  const specs: Array<[string, Body]> = [
    ['/api/commands', { targets: ['a'], command: 'echo 1' }],
    ['/api/tasks', { targets: ['a'], task: 'demo::info' }],
    ['/api/commands', { targets: ['a'], command: 'exit 3' }],
    ['/api/packages', { targets: ['a'], name: 'curl' }],
    ['/api/commands', { targets: ['a'], command: 'echo 5' }],
    ['/api/tasks', { targets: ['a'], task: 'demo::fail' }],
    ['/api/commands', { targets: ['a'], command: 'echo 7' }]
  ]
  const created: string[] = []
  for (const [url, body] of specs) created.push(await start(app, url, body))
  for (const id of created) await finished(app, id)
  const newestFirst = [...created].reverse()

  const list = async (query: string) => app.inject(`/api/executions${query}`)

  t.test('newest first, with the default limit', async (t) => {
    const res = await list('')
    t.equal(res.statusCode, 200)
    const page = res.json()
    t.same(Object.keys(page).sort(), ['executions', 'nextCursor'])
    t.same(page.executions.map((e: any) => e.id), newestFirst, 'newest first')
    t.equal(page.nextCursor, null, 'everything on one page')
    for (const e of page.executions) t.same(Object.keys(e).sort(), RECORD_FIELDS, `${e.id}: the documented fields`)
  })

  t.test('limit', async (t) => {
    const one = (await list('?limit=1')).json()
    t.same(one.executions.map((e: any) => e.id), [newestFirst[0]], 'limit=1: the newest')
    t.type(one.nextCursor, 'string', 'limit=1: a cursor')
    const all = (await list(`?limit=${created.length}`)).json()
    t.equal(all.executions.length, created.length, 'limit = count: all of them')
    t.equal(all.nextCursor, null, 'limit = count: no cursor')
    t.equal((await list('?limit=100')).statusCode, 200, 'limit=100 is allowed')
    for (const bad of ['0', '101', 'abc', '-1', '1.5', '']) {
      const res = await list(`?limit=${bad}`)
      if (bad === '') {
        // An empty value is not a number either.
        t.equal(res.statusCode, 400, 'limit= (empty) is a 400')
        continue
      }
      t.test(`limit=${bad}`, async (t) => expectJsonError(t, res, 400, 'BOLT_STREAM_VALIDATION_FAILED'))
    }
  })

  t.test('status and type filters', async (t) => {
    const failed = (await list('?status=failed')).json()
    t.same(failed.executions.map((e: any) => e.id), [newestFirst[1], newestFirst[4]], 'the two failed ones, newest first')
    for (const e of failed.executions) t.equal(e.status, 'failed')
    const success = (await list('?status=success')).json()
    t.equal(success.executions.length, 5)
    for (const e of success.executions) t.equal(e.status, 'success')
    const tasks = (await list('?type=task')).json()
    t.same(tasks.executions.map((e: any) => e.id), [created[5], created[1]], 'the two tasks, newest first')
    const both = (await list('?type=command&status=failed')).json()
    t.same(both.executions.map((e: any) => e.id), [created[2]], 'filters combine')
    t.same((await list('?status=cancelled')).json().executions, [], 'no cancelled ones')
    t.same((await list('?type=puppet')).json().executions, [], 'no puppet runs')
    const pagedFailed = (await list('?status=failed&limit=1')).json()
    t.same(pagedFailed.executions.map((e: any) => e.id), [created[5]])
    const rest = (await list(`?status=failed&limit=1&cursor=${encodeURIComponent(pagedFailed.nextCursor)}`)).json()
    t.same(rest.executions.map((e: any) => e.id), [created[2]], 'cursors follow the filter')
    t.equal(rest.nextCursor, null)
    expectJsonError(t, await list('?status=done'), 400, 'BOLT_STREAM_VALIDATION_FAILED')
    expectJsonError(t, await list('?type=shell'), 400, 'BOLT_STREAM_VALIDATION_FAILED')
    expectJsonError(t, await list('?sort=asc'), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  })

  for (const limit of [1, 2, 3]) {
    t.test(`nextCursor visits every execution exactly once (limit=${limit})`, async (t) => {
      const seen: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const query: string = `?limit=${limit}` + (cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`)
        const res = await list(query)
        t.equal(res.statusCode, 200)
        const page = res.json()
        t.ok(page.executions.length <= limit, 'no more than the limit')
        t.ok(page.executions.length > 0, 'no empty pages')
        seen.push(...page.executions.map((e: any) => e.id))
        cursor = page.nextCursor
        pages++
      } while (cursor !== null && pages < 20)
      t.same(seen, newestFirst, 'every execution once, newest first')
      t.equal(new Set(seen).size, seen.length, 'no duplicates')
      t.equal(pages, Math.ceil(created.length / limit), 'the expected number of pages')
    })
  }

  t.test('a bad cursor is a 400', async (t) => {
    for (const bad of ['garbage', Buffer.from('m:abc').toString('base64url'), Buffer.from('x:1').toString('base64url'), 'x'.repeat(201)]) {
      t.test(`cursor ${bad.slice(0, 20)}`, async (t) => expectJsonError(t, await list(`?cursor=${bad}`), 400))
    }
  })
})

t.test('POST /api/executions/:id/cancel', async (t) => {
  const { app, spawns } = await build(t)
  const id = await start(app, '/api/commands', { targets: ['a'], command: 'sleep 30' })
  await until(() => spawns().length === 1, 10_000, 'Bolt to start')
  const stats = (await app.inject('/api/streaming/stats')).json()
  t.equal(stats.activeExecutions, 1, 'one execution running')

  const started = Date.now()
  const res = await app.inject({ method: 'POST', url: `/api/executions/${id}/cancel`, payload: {} })
  t.equal(res.statusCode, 202, 'cancel is accepted')
  t.same(res.json(), { executionId: id, status: 'running', streamUrl: `/api/executions/${id}/stream` })
  const record = await finished(app, id, 5000)
  t.ok(Date.now() - started < 5000, `cancelled within 5 s (${Date.now() - started} ms)`)
  t.equal(record.status, 'cancelled')
  t.equal(record.error?.kind, 'bolt-stream/cancelled')
  t.type(record.error?.message, 'string')
  expectIsoUtc(t, record.completedAt, 'completedAt')
  await until(async () => (await app.inject('/api/streaming/stats')).json().activeExecutions === 0, 5000, 'nothing running')
  t.equal((await app.inject('/api/streaming/stats')).json().activeExecutions, 0, 'nothing running after the cancel')

  t.test('cancelling again is a 409', async (t) => {
    const again = await app.inject({ method: 'POST', url: `/api/executions/${id}/cancel`, payload: {} })
    expectJsonError(t, again, 409, 'BOLT_STREAM_EXECUTION_FINISHED')
    t.equal((await get(app, id)).status, 'cancelled', 'still cancelled')
  })

  t.test('cancelling a finished execution is a 409', async (t) => {
    const done = await run(app, '/api/commands', { targets: ['a'], command: 'echo hi' })
    const again = await app.inject({ method: 'POST', url: `/api/executions/${done.id}/cancel`, payload: {} })
    expectJsonError(t, again, 409, 'BOLT_STREAM_EXECUTION_FINISHED')
    t.equal((await get(app, done.id)).status, 'success', 'still success')
  })

  t.test('a cancel without a body is accepted', async (t) => {
    // What `curl -X POST .../cancel` or `fetch(url, {method: 'POST'})` sends: no body at all.
    const runs = spawns().length
    const other = await start(app, '/api/commands', { targets: ['a'], command: 'sleep 30' })
    await until(() => spawns().length === runs + 1, 10_000, 'Bolt to start')
    const res = await app.inject({ method: 'POST', url: `/api/executions/${other}/cancel` })
    t.equal(res.statusCode, 202, `POST without a body: 202 (got ${res.statusCode} ${res.body})`)
    if (res.statusCode !== 202) {
      // Stop it anyway so the rest of the file is not held up.
      await app.inject({ method: 'POST', url: `/api/executions/${other}/cancel`, payload: {} })
    }
    const record = await finished(app, other, 5000)
    t.equal(record.status, 'cancelled')
  })

  t.test('a cancel with a non-empty body is a 400', async (t) => {
    const other = await start(app, '/api/commands', { targets: ['a'], command: 'sleep 30' })
    const res = await app.inject({ method: 'POST', url: `/api/executions/${other}/cancel`, payload: { force: true } })
    expectJsonError(t, res, 400, 'BOLT_STREAM_INVALID_INPUT')
    t.equal((await get(app, other)).status, 'running', 'still running')
    t.equal((await app.inject({ method: 'POST', url: `/api/executions/${other}/cancel`, payload: {} })).statusCode, 202)
    t.equal((await finished(app, other, 5000)).status, 'cancelled')
  })

  t.test('cancelling an unknown execution is a 404', async (t) => {
    expectJsonError(t, await app.inject({ method: 'POST', url: `/api/executions/${UNKNOWN_ID}/cancel`, payload: {} }), 404, 'BOLT_STREAM_EXECUTION_NOT_FOUND')
  })

  t.test('cancelling a malformed id is a 400', async (t) => {
    expectJsonError(t, await app.inject({ method: 'POST', url: '/api/executions/not-a-uuid/cancel' }), 400, 'BOLT_STREAM_VALIDATION_FAILED')
  })
})

t.test('statuses end to end through the stand-in', async (t) => {
  const { app } = await build(t)

  t.test('a command exiting 3 fails', async (t) => {
    const record = await run(app, '/api/commands', { targets: ['a'], command: 'exit 3' })
    t.equal(record.status, 'failed')
    expectIsoUtc(t, record.completedAt, 'completedAt')
    t.equal(record.results.length, 1)
    t.equal(record.results[0].target, 'a')
    t.equal(record.results[0].status, 'failed')
    t.equal(record.results[0].exitCode, 3)
    t.equal(record.results[0].error?.kind, 'puppetlabs.tasks/command-error')
  })

  t.test('one unreachable target of two is partial', async (t) => {
    const record = await run(app, '/api/commands', { targets: ['a', 'unreachable1'], command: 'echo hi' })
    t.equal(record.status, 'partial')
    t.same(record.targets, ['a', 'unreachable1'])
    t.equal(record.results.length, 2)
    const a = record.results.find((r: any) => r.target === 'a')
    const down = record.results.find((r: any) => r.target === 'unreachable1')
    t.match(a, { status: 'success', exitCode: 0, stdout: 'hi\n' })
    t.equal(down?.status, 'failed')
    t.equal(down?.error?.issueCode, 'CONNECT_ERROR')
    t.equal(down?.error?.kind, 'puppetlabs.tasks/connect-error')
    t.equal(record.error, null, 'no execution-level error')
  })

  t.test('task demo::info succeeds with its value', async (t) => {
    const record = await run(app, '/api/tasks', { targets: ['a'], task: 'demo::info' })
    t.equal(record.status, 'success')
    t.same(record.results[0].value, { hostname: 'vm', greeting: 'hello' })
    t.equal(record.results[0].status, 'success')
  })

  t.test('an unknown task fails with bolt/unknown-task', async (t) => {
    const record = await run(app, '/api/tasks', { targets: ['a'], task: 'demo::nosuch' })
    t.equal(record.status, 'failed')
    t.equal(record.error?.kind, 'bolt/unknown-task')
    t.match(record.error?.message, 'demo::nosuch')
  })

  t.test('a missing package fails', async (t) => {
    const record = await run(app, '/api/packages', { targets: ['a'], name: 'nosuchpkg' })
    t.equal(record.status, 'failed')
    t.equal(record.action, 'nosuchpkg')
    t.equal(record.results[0]?.status, 'failed')
    t.type(record.results[0]?.error?.message, 'string')
  })

  t.test('installing curl 7.88.1-10 succeeds', async (t) => {
    const record = await run(app, '/api/packages', { targets: ['a'], name: 'curl', action: 'install', version: '7.88.1-10' })
    t.equal(record.status, 'success')
    t.equal(record.action, 'curl')
    t.equal(record.results[0]?.value?.version, '7.88.1-10')
    t.equal(record.results[0]?.value?.status, 'installed')
  })
})

t.test('puppet runs by the agent exit code', async (t) => {
  for (const [exit, status] of [['2', 'success'], ['0', 'success'], ['4', 'failed'], ['6', 'failed']] as const) {
    t.test(`exit ${exit} is ${status}`, async (t) => {
      const { app } = await build(t, { standIn: { STANDIN_PUPPET_EXIT: exit } })
      const record = await run(app, '/api/puppet-runs', { targets: ['a'] })
      t.equal(record.status, status)
      t.equal(record.action, 'puppet agent')
      t.equal(record.results[0]?.exitCode, Number(exit))
      t.equal(record.results[0]?.status, status)
    })
  }
})

t.test('Bolt failures', async (t) => {
  t.test('a Ruby crash fails with the stderr in the message', async (t) => {
    const { app } = await build(t, { standIn: { STANDIN_FATAL_RUBY: '1' } })
    const record = await run(app, '/api/commands', { targets: ['a'], command: 'echo hi' })
    t.equal(record.status, 'failed')
    t.type(record.error?.kind, 'string')
    t.match(record.error?.message, 'NoMethodError', 'the message quotes the stderr')
  })

  t.test('a truncated document fails', async (t) => {
    const { app } = await build(t, { standIn: { STANDIN_TRUNCATE_DOC: '1' } })
    const record = await run(app, '/api/commands', { targets: ['a'], command: 'echo hi' })
    t.equal(record.status, 'failed')
    t.equal(record.error?.kind, 'bolt-stream/truncated-document')
  })

  t.test('a document without items fails', async (t) => {
    const { app } = await build(t, { standIn: { STANDIN_NO_ITEMS: '1' } })
    const record = await run(app, '/api/commands', { targets: ['a'], command: 'echo hi' })
    t.equal(record.status, 'failed')
    t.equal(record.error?.kind, 'bolt-stream/invalid-document')
  })

  t.test('a missing Bolt fails the execution and readiness', async (t) => {
    const { app, spawns } = await build(t, { env: { BOLT_PATH: '/nonexistent/bolt' } })
    const record = await run(app, '/api/commands', { targets: ['a'], command: 'echo hi' })
    t.equal(record.status, 'failed')
    t.equal(record.error?.kind, 'bolt-stream/bolt-not-found')
    t.match(record.error?.message, '/nonexistent/bolt')
    t.equal(spawns().length, 0, 'the stand-in never ran')
    await until(async () => {
      const res = await app.inject('/health/ready')
      return res.json().reason !== 'Bolt has not been checked yet'
    }, 10_000, 'the Bolt probe')
    const ready = await app.inject('/health/ready')
    t.equal(ready.statusCode, 503)
    t.equal(ready.json().status, 'not_ready')
    t.type(ready.json().reason, 'string')
    t.notOk(ready.json().boltVersion, 'no version')
    const live = await app.inject('/health/live')
    t.equal(live.statusCode, 200, 'still alive')
    t.same(live.json(), { status: 'ok' })
  })

  t.test('a Bolt without --stream (before 3.2) fails readiness with its version in the reason', async (t) => {
    const { app } = await build(t, { standIn: { STANDIN_VERSION: '3.1.2' } })
    await until(async () => (await app.inject('/health/ready')).json().reason !== 'Bolt has not been checked yet', 10_000, 'the Bolt probe')
    const ready = await app.inject('/health/ready')
    t.equal(ready.statusCode, 503)
    t.equal(ready.json().status, 'not_ready')
    t.match(ready.json().reason, /Bolt 3\.1\.2 is too old/)
    t.match(ready.json().reason, /--stream/)
  })

  t.test('closing the app ends a Bolt version probe under way, and waits for it', async (t) => {
    const { app, config } = await build(t, { standIn: { STANDIN_VERSION_DELAY_MS: '60000' } })
    const log = config.boltEnv.STANDIN_LOG
    let pid = 0
    await until(async () => {
      const probe = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('--version'))[0]
      if (probe !== undefined) pid = (JSON.parse(probe) as { pid: number }).pid
      return pid > 0
    }, 10_000, 'the probe started')
    await app.close()
    t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the probe process is gone when close resolves')
  })

  t.test('a run over EXECUTION_TIMEOUT_MS times out', async (t) => {
    const { app } = await build(t, { env: { EXECUTION_TIMEOUT_MS: '1000' } })
    const started = Date.now()
    const record = await run(app, '/api/commands', { targets: ['a'], command: 'sleep 30' })
    const took = Date.now() - started
    t.equal(record.status, 'timed_out')
    t.equal(record.error?.kind, 'bolt-stream/timeout')
    t.ok(took >= 900, `not before the timeout (${took} ms)`)
    t.ok(took < 5000, `within 5 s (${took} ms)`)
  })
})

t.test('health, unknown routes and stats', async (t) => {
  const { app } = await build(t)

  t.test('GET /health/live', async (t) => {
    const res = await app.inject('/health/live')
    t.equal(res.statusCode, 200)
    t.same(res.json(), { status: 'ok' })
  })

  t.test('GET /health/ready reports the Bolt version once probed', async (t) => {
    await until(async () => (await app.inject('/health/ready')).statusCode === 200, 10_000, 'readiness')
    const res = await app.inject('/health/ready')
    t.equal(res.statusCode, 200)
    t.same(res.json(), { status: 'ready', boltVersion: '5.6.0' })
  })

  t.test('an unknown route is a JSON 404', async (t) => {
    const res = await app.inject('/api/nosuch')
    expectJsonError(t, res, 404, 'BOLT_STREAM_ROUTE_NOT_FOUND')
    t.match(res.json().error.message, '/api/nosuch')
    expectJsonError(t, await app.inject({ method: 'DELETE', url: '/api/commands' }), 404, 'BOLT_STREAM_ROUTE_NOT_FOUND')
  })

  t.test('GET /api/streaming/stats', async (t) => {
    const res = await app.inject('/api/streaming/stats')
    t.equal(res.statusCode, 200)
    const stats = res.json()
    t.same(Object.keys(stats).sort(), ['activeExecutions', 'bufferedBytes', 'liveChannels', 'liveSubscribers', 'maxBufferedBytes', 'queuedExecutions', 'storeCacheBytes', 'subscribers'])
    for (const [key, value] of Object.entries(stats)) t.ok(Number.isInteger(value) && (value as number) >= 0, `${key} is a whole number`)
    t.equal(stats.activeExecutions, 0)
    t.equal(stats.subscribers, 0)
  })
})
