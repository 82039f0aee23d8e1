// The discovery endpoints through the Bolt stand-in (a real process) in the project the captures
// ran in: each answer against the captured documents of real Bolt (cases d01–d07), no server
// paths, no connection settings, secrets redacted, Bolt's errors as 404/502 with its kind, and
// names refused before anything is spawned.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { build, makeTokens, STAND_IN, startExecution, waitFinished } from '../helper.js'
import { copyProject } from '../fixtures/projects.js'

const CASES = fileURLToPath(new URL('../fixtures/captures/cases/', import.meta.url))
const captured = (name: string): any => JSON.parse(readFileSync(join(CASES, `${name}.stdout`), 'utf8'))

function capturedProject (t: Test): string {
  const dir = copyProject('captured', mkdtempSync(join(tmpdir(), 'bolt-discovery-')))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const onCaptured = async (t: Test, options: { env?: Record<string, string>, standIn?: Record<string, string> } = {}) => {
  const project = capturedProject(t)
  return { project, ...await build(t, { env: { BOLT_PROJECT: project, ...options.env }, standIn: options.standIn }) }
}

t.test('GET /api/tasks and /api/plans list what Bolt lists (d01, d05)', async (t) => {
  const { app } = await onCaptured(t)
  const tasks = await app.inject('/api/tasks')
  t.equal(tasks.statusCode, 200)
  t.same(tasks.json(), captured('d01-task-show').tasks.map(([name, description]: [string, string | null]) => ({ name, description })))
  const plans = await app.inject('/api/plans')
  t.equal(plans.statusCode, 200)
  t.same(plans.json(), captured('d05-plan-show').plans.map(([name, description]: [string, string | null]) => ({ name, description })))
  t.notMatch(tasks.body + plans.body, /modulepath|bolt-discovery-|\/modules/, 'no modulepath, no server path')
})

t.test('GET /api/tasks/:name: description, parameters, noop and input method, no files (d02b, d02, d02d)', async (t) => {
  const { app, project } = await onCaptured(t)
  const params = await app.inject('/api/tasks/mymod::params')
  t.equal(params.statusCode, 200)
  t.strictSame(params.json(), {
    name: 'mymod::params',
    description: 'Task with declared parameters',
    parameters: [
      { name: 'message', type: 'String[1]', description: 'Message to print', sensitive: false },
      { name: 'count', type: 'Optional[Integer]', description: 'How many times', default: 2, sensitive: false },
      { name: 'mode', type: 'Enum[fast, slow]', description: 'Speed', sensitive: false },
      { name: 'secret', type: 'Optional[String]', description: null, sensitive: true }
    ],
    supportsNoop: true,
    inputMethod: 'environment',
    private: false
  })
  t.equal(captured('d02b-task-show-params').metadata.input_method, 'environment', 'as the capture says')
  const hello = await app.inject('/api/tasks/mymod::hello')
  t.strictSame(hello.json(), {
    name: 'mymod::hello',
    description: 'Say hello',
    parameters: [{ name: 'name', type: 'Optional[String]', description: 'who', sensitive: false }],
    supportsNoop: false,
    inputMethod: null,
    private: false
  })
  const bare = await app.inject('/api/tasks/mymod::arr')
  t.strictSame(bare.json(), { name: 'mymod::arr', description: null, parameters: [], supportsNoop: false, inputMethod: null, private: false })
  for (const body of [params.body, hello.body, bare.body]) {
    t.notOk(body.includes(project), 'no server path')
    t.notMatch(body, /"files"|module_dir|hello\.sh/)
  }
})

t.test("GET /api/plans/:name: a .pp plan's defaults are Puppet source, a YAML plan's the values (d06, d06b)", async (t) => {
  const { app, project } = await onCaptured(t)
  const pp = await app.inject('/api/plans/mymod::myplan')
  t.equal(pp.statusCode, 200)
  t.strictSame(pp.json(), {
    name: 'mymod::myplan',
    description: 'Puppet-language plan: loop, message, task, return hash',
    summary: 'Puppet-language plan: loop, message, task, return hash',
    parameters: [
      { name: 'targets', type: 'TargetSpec', description: 'Where to run', sensitive: false },
      { name: 'name', type: 'String', description: 'Passed to the task', default: "'ppworld'", sensitive: false },
      { name: 'count', type: 'Integer', description: 'A number', default: '3', sensitive: false }
    ],
    private: false,
    language: 'puppet',
    defaultFormat: 'puppet-source'
  })
  const yaml = await app.inject('/api/plans/mymod::yplan')
  t.strictSame(yaml.json(), {
    name: 'mymod::yplan',
    description: 'YAML plan that loops, messages, runs a task, returns a hash',
    summary: null,
    parameters: [
      { name: 'targets', type: 'TargetSpec', description: 'Where to run', sensitive: false },
      { name: 'name', type: 'String', description: 'Name passed to the task', default: 'yamlworld', sensitive: false }
    ],
    private: false,
    language: 'yaml',
    defaultFormat: 'value'
  })
  t.equal(captured('d06-plan-show-myplan').parameters.name.default_value, "'ppworld'", 'as the capture says')
  t.equal(captured('d06b-plan-show-yplan').parameters.name.default_value, 'yamlworld')
  t.notOk((pp.body + yaml.body).includes(project), 'no module_dir')
})

t.test('GET /api/targets: the inventory without connection settings (d03, d04); ?group= filters (d04b)', async (t) => {
  const { app } = await onCaptured(t)
  const res = await app.inject('/api/targets')
  t.equal(res.statusCode, 200)
  const targets = res.json()
  t.same(targets.map((x: any) => x.name), captured('d03-inventory-show').targets, 'every target, in inventory order')
  const detail = captured('d04-inventory-detail').targets
  for (const [i, target] of targets.entries()) {
    const real = detail[i]
    t.strictSame(target, {
      name: real.name,
      uri: real.uri,
      alias: typeof real.alias === 'string' ? [real.alias] : real.alias,
      groups: real.groups,
      transport: real.config.transport,
      features: real.features,
      facts: real.facts,
      vars: real.vars
    }, `${String(real.name)} as Bolt shows it, config and plugin hooks left out`)
  }
  t.strictSame(targets[2], {
    name: 'second',
    uri: 'second',
    alias: ['sec'],
    groups: ['locals', 'all'],
    transport: 'local',
    features: ['puppet-agent'],
    facts: { os: { family: 'Debian' } },
    vars: { env: 'test', tier: 'local', role: 'worker' }
  })
  t.notMatch(res.body, /hunter2|"config"|"password"|plugin_hooks/, 'the ssh password Bolt prints is not here')
  const locals = await app.inject('/api/targets?group=locals')
  t.same(locals.json().map((x: any) => x.name), captured('d04b-inventory-group').targets)
  const unknown = await app.inject('/api/targets?group=nosuch')
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error.code, 'BOLT_STREAM_GROUP_NOT_FOUND')
})

t.test('GET /api/groups lists the groups, all first (d07)', async (t) => {
  const { app } = await onCaptured(t)
  const res = await app.inject('/api/groups')
  t.equal(res.statusCode, 200)
  t.same(res.json(), captured('d07-group-show').groups.map((name: string) => ({ name })))
})

const SECRETS = {
  keyData: 'KEYDATA-s3cr3t-0',
  varsPassword: 'vars-pw-1',
  varsToken: 'vars-token-2',
  varsSecret: 'vars-secret-3',
  pem: 'PEMVALUE-4',
  urlPassword: 'url-pw-5',
  uriPassword: 'uri-pw-6',
  winrmPassword: 'winrm-pw-7',
  sudoPassword: 'sudo-pw-8',
  factCredential: 'fact-cred-9',
  remoteToken: 'remote-token-10',
  nameUriPassword: 'uri-pw-11',
  groupPassword: 'hunter2'
}

const SECRET_INVENTORY = `---
config:
  ssh:
    host-key-check: false
    private-key:
      key-data: "-----BEGIN OPENSSH PRIVATE KEY-----\\n${SECRETS.keyData}\\n-----END OPENSSH PRIVATE KEY-----"
vars:
  env: test
  db_password: ${SECRETS.varsPassword}
  nested:
    api_token: ${SECRETS.varsToken}
    list:
      - secret: ${SECRETS.varsSecret}
  deploy_key_text: "-----BEGIN RSA PRIVATE KEY-----\\n${SECRETS.pem}\\n-----END RSA PRIVATE KEY-----"
  repo: "https://git:${SECRETS.urlPassword}@git.example.invalid/repo.git"
groups:
  - name: remotes
    targets:
      - uri: ssh://admin:${SECRETS.uriPassword}@web1.example.invalid:2222
        name: web1
      - uri: ssh://root:${SECRETS.nameUriPassword}@db2.example.invalid
      - name: win1
        config:
          transport: winrm
          winrm:
            user: Administrator
            password: ${SECRETS.winrmPassword}
    config:
      transport: ssh
      ssh:
        user: admin
        password: ${SECRETS.groupPassword}
        sudo-password: ${SECRETS.sudoPassword}
    facts:
      datacenter: dc1
      credentials:
        user: x
        key: ${SECRETS.factCredential}
  - name: apis
    targets:
      - name: pdb1
        config:
          transport: remote
          remote:
            token: ${SECRETS.remoteToken}
`

t.test('secrets Bolt prints with --detail are in no answer', async (t) => {
  const { app, project } = await onCaptured(t)
  writeFileSync(join(project, 'inventory.yaml'), SECRET_INVENTORY)
  // What Bolt itself prints holds every one of them (else this test would prove nothing).
  const { stdout: raw } = await promisify(execFile)(process.execPath, [STAND_IN, 'inventory', 'show', '--format=json', '--detail', `--project=${project}`],
    { env: { ...process.env, STANDIN_STARTUP_DELAY_MS: '0' } })
  for (const [what, secret] of Object.entries(SECRETS)) t.ok(raw.includes(secret), `Bolt prints ${what}`)

  const bodies: string[] = []
  for (const url of ['/api/targets', '/api/targets?group=remotes', '/api/targets?group=apis', '/api/groups']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 200, url)
    bodies.push(res.body)
  }
  for (const [what, secret] of Object.entries(SECRETS)) t.notOk(bodies.some((b) => b.includes(secret)), `${what} is in no answer`)
  const byName = new Map<string, any>(JSON.parse(bodies[0]).map((x: any) => [x.name, x]))
  const web1 = byName.get('web1')
  t.equal(web1.uri, 'ssh://admin:[REDACTED]@web1.example.invalid:2222', "the URI's password is redacted, the rest kept")
  t.same(web1.vars, {
    env: 'test',
    db_password: '[REDACTED]',
    nested: { api_token: '[REDACTED]', list: [{ secret: '[REDACTED]' }] },
    deploy_key_text: '[REDACTED]',
    repo: 'https://git:[REDACTED]@git.example.invalid/repo.git'
  })
  t.same(web1.facts, { datacenter: 'dc1', credentials: '[REDACTED]' })
  t.ok(byName.has('ssh://root:[REDACTED]@db2.example.invalid'), 'a target named by its URI is shown without the password')
  t.equal(byName.get('pdb1').transport, 'remote')
})

t.test("Bolt's errors: unknown task or plan → 404, a broken inventory or a crash → 502, with Bolt's kind and message", async (t) => {
  const { app, project, spawns } = await onCaptured(t)
  const task = await app.inject('/api/tasks/mymod::nosuch')
  t.equal(task.statusCode, 404)
  const real = captured('d02c-task-show-unknown')
  t.strictSame(task.json(), { error: { code: 'BOLT_STREAM_TASK_NOT_FOUND', message: real.msg, kind: real.kind } })
  const plan = await app.inject('/api/plans/mymod::nosuch')
  t.equal(plan.statusCode, 404)
  const realPlan = captured('d06c-plan-show-unknown')
  t.strictSame(plan.json(), { error: { code: 'BOLT_STREAM_PLAN_NOT_FOUND', message: realPlan.msg, kind: realPlan.kind } })
  const before = spawns().length
  t.equal((await app.inject('/api/tasks/mymod::nosuch')).statusCode, 404, "Bolt's answer is kept like any other")
  t.equal(spawns().length, before, 'no new run')

  writeFileSync(join(project, 'inventory.yaml'), 'groups: [\n')
  const broken = await app.inject('/api/targets')
  t.equal(broken.statusCode, 502)
  t.equal(broken.json().error.code, 'BOLT_STREAM_BOLT_ERROR')
  t.equal(broken.json().error.kind, 'bolt/cli-error')
  t.match(broken.json().error.message, /^Could not parse .*inventory\.yaml/)
  t.equal((await app.inject('/api/targets')).statusCode, 502)
  t.equal(spawns().length, before + 2, 'a failure is not kept: each request asks again')
})

t.test('a Bolt that crashes → 502 with the first line of its stderr', async (t) => {
  const { app } = await onCaptured(t, { standIn: { STANDIN_FATAL_RUBY: '1' } })
  const res = await app.inject('/api/groups')
  t.equal(res.statusCode, 502)
  t.equal(res.json().error.kind, 'bolt-stream/bolt-failed')
  t.match(res.json().error.message, /^Bolt exited with code 1: .*undefined method 'x' for nil/)
})

t.test('a missing Bolt → 503 BOLT_STREAM_BOLT_UNAVAILABLE', async (t) => {
  const { app } = await build(t, { env: { BOLT_PATH: '/nonexistent/bolt' } })
  const res = await app.inject('/api/tasks')
  t.equal(res.statusCode, 503)
  t.equal(res.json().error.code, 'BOLT_STREAM_BOLT_UNAVAILABLE')
  t.equal(res.json().error.kind, 'bolt-stream/bolt-not-found')
})

t.test('hostile names and queries: 400 (414 when too long), nothing spawned', async (t) => {
  const { app, spawns } = await build(t)
  const names = ['Bad-Name', '-x', '--help', '@/etc/passwd', '-', 'demo::echo;id', 'demo::echo --params={}', 'a b', '../etc', 'demo::', '::demo',
    'demo::echo\n', 'démo', 'demo::x$(id)', 'Demo']
  for (const resource of ['tasks', 'plans']) {
    for (const name of names) {
      const res = await app.inject(`/api/${resource}/${encodeURIComponent(name)}`)
      t.equal(res.statusCode, 400, `${resource} ${JSON.stringify(name)}`)
      t.match(res.json().error.code, /^BOLT_STREAM_/)
    }
    t.equal((await app.inject(`/api/${resource}/${'a'.repeat(300)}`)).statusCode, 414)
  }
  for (const query of ['group=-x', 'group=a%20b', 'group=', 'group=@all', 'refresh=maybe', 'foo=1', 'group=a&group=b']) {
    t.equal((await app.inject(`/api/targets?${query}`)).statusCode, 400, query)
  }
  t.equal((await app.inject('/api/tasks?refresh=yes')).statusCode, 400)
  t.equal(spawns().length, 0, 'Bolt never ran')
})

t.test('discovery needs the read scope', async (t) => {
  const tokens = makeTokens({ reader: ['read'], runner: ['execute'] })
  const { app } = await build(t, { env: { AUTH_TOKENS: tokens.env } })
  for (const url of ['/api/tasks', '/api/tasks/demo::echo', '/api/plans', '/api/plans/demo::deploy', '/api/targets', '/api/groups']) {
    t.equal((await app.inject({ url, headers: tokens.auth('reader') })).statusCode, 200, `${url} with read`)
    const refused = await app.inject({ url, headers: tokens.auth('runner') })
    t.equal(refused.statusCode, 403, `${url} without read`)
    t.equal(refused.json().error.code, 'BOLT_STREAM_FORBIDDEN')
    t.equal((await app.inject(url)).statusCode, 401, `${url} without a token`)
  }
})

t.test('?refresh=true counts against the rate limit; cached reads do not', async (t) => {
  const { app } = await build(t, { env: { RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '60000' } })
  for (let i = 0; i < 5; i++) t.equal((await app.inject('/api/tasks')).statusCode, 200, 'plain reads are not limited')
  t.equal((await app.inject('/api/tasks?refresh=true')).statusCode, 200)
  t.equal((await app.inject('/api/groups?refresh=true')).statusCode, 200)
  const refused = await app.inject('/api/targets?refresh=true')
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().error.code, 'BOLT_STREAM_RATE_LIMITED')
  t.equal((await app.inject('/api/tasks?refresh=false')).statusCode, 200, 'refresh=false is a plain read')
  t.equal((await app.inject('/api/executions?limit=1')).statusCode, 200, 'other reads are not limited')
})

t.test('discovery does not wait for the execution queue', async (t) => {
  const { app } = await build(t, { env: { MAX_CONCURRENT_EXECUTIONS: '1', MAX_QUEUED_EXECUTIONS: '0' } })
  const id = await startExecution(app, '/api/commands', { targets: ['a'], command: 'sleep 30' })
  t.equal((await app.inject({ method: 'POST', url: '/api/commands', payload: { targets: ['a'], command: 'true' } })).statusCode, 429, 'the queue is full')
  for (const url of ['/api/tasks', '/api/plans', '/api/targets', '/api/groups']) t.equal((await app.inject(url)).statusCode, 200, url)
  await app.inject({ method: 'POST', url: `/api/executions/${id}/cancel` })
  t.equal((await waitFinished(app, id)).status, 'cancelled')
})
