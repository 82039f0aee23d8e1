import t from 'tap'
import { buildBoltInvocation, redactCommand, type BoltArgsOptions, type OperationSpec } from '../../../services/bolt/arguments.js'
import { MAX_COMMAND_LENGTH, MAX_PARAMS_DEPTH, MAX_TAGS, MAX_TARGETS } from '../../../schemas/index.js'
import { isValidCommand, isValidTarget } from '../../../services/bolt/input-rules.js'

const PROJECT = '/srv/bolt-stream/project'
const OPTIONS: BoltArgsOptions = {
  projectDir: PROJECT,
  puppetAgentCommand: 'puppet agent --test --color=false',
  puppetRunAs: 'root'
}
const COMMON = ['--format=json', '--stream', '--no-color', '--no-save-rerun', `--project=${PROJECT}`]

interface Thrown { code?: unknown, statusCode?: unknown, message?: unknown }

/** Asserts that building `spec` throws the service's invalid-input error (code + HTTP 400). */
function rejects (t: Pick<typeof import('tap').t, 'ok' | 'equal'>, spec: OperationSpec, what: string, options: BoltArgsOptions = OPTIONS): void {
  let caught: Thrown | undefined
  let built: unknown
  try {
    built = buildBoltInvocation(spec, options)
  } catch (err) {
    caught = err as Thrown
  }
  t.ok(caught !== undefined, `${what}: throws`, { built })
  t.equal(caught?.code, 'BOLT_STREAM_INVALID_INPUT', `${what}: error code`)
  t.equal(caught?.statusCode, 400, `${what}: status code 400`)
}

t.test('command: exact argv', async (t) => {
  const inv = buildBoltInvocation({ type: 'command', targets: ['web1', 'web2'], command: 'uptime' }, OPTIONS)
  t.same(inv.args, ['command', 'run', ...COMMON, '--targets=web1,web2', '--', 'uptime'])
  t.equal(inv.type, 'command')
  t.equal(inv.action, 'uptime')
  // Exactly one targets element, and `--` right before the command, which is last.
  t.equal(inv.args.filter((a) => a.startsWith('--targets')).length, 1)
  t.equal(inv.args[inv.args.length - 2], '--')
  t.equal(inv.args.indexOf('--'), inv.args.length - 2)
  t.equal(inv.display, 'bolt command run --format=json --stream --no-color --no-save-rerun ' +
    `--project=${PROJECT} --targets=web1,web2 -- uptime`)
})

t.test('command: the command is one argv element, unchanged', async (t) => {
  const commands = [
    'echo "-x"',
    'echo -x',
    'ls -la /tmp && echo @home',
    'printf "a\\nb"\necho second line\n  echo third',
    'echo $HOME; cat /etc/hostname | tr a-z A-Z',
    "echo 'single' \"double\" `back`",
    'x'.repeat(MAX_COMMAND_LENGTH)
  ]
  for (const command of commands) {
    const inv = buildBoltInvocation({ type: 'command', targets: ['web1'], command }, OPTIONS)
    t.same(inv.args, ['command', 'run', ...COMMON, '--targets=web1', '--', command], JSON.stringify(command.slice(0, 40)))
    t.equal(inv.action, command)
  }
})

t.test('task: exact argv with params JSON', async (t) => {
  const params = { name: 'nginx', count: 3, nested: { a: [1, 'two'] }, flag: true }
  const inv = buildBoltInvocation({ type: 'task', targets: ['web1'], task: 'demo::info', params }, OPTIONS)
  t.same(inv.args, ['task', 'run', ...COMMON, '--targets=web1', `--params=${JSON.stringify(params)}`, '--', 'demo::info'])
  t.equal(inv.type, 'task')
  t.equal(inv.action, 'demo::info')
  const paramsArg = inv.args.find((a) => a.startsWith('--params='))
  t.same(JSON.parse(String(paramsArg).slice('--params='.length)), params, 'params round-trip as JSON')
})

t.test('task: no params → --params={}', async (t) => {
  const inv = buildBoltInvocation({ type: 'task', targets: ['a', 'b', 'c'], task: 'facts' }, OPTIONS)
  t.same(inv.args, ['task', 'run', ...COMMON, '--targets=a,b,c', '--params={}', '--', 'facts'])
})

t.test('task: valid names', async (t) => {
  for (const task of ['facts', 'package', 'demo::info', 'a1_b::c_2::d', 'puppet_agent::run']) {
    const inv = buildBoltInvocation({ type: 'task', targets: ['web1'], task }, OPTIONS)
    t.equal(inv.args[inv.args.length - 1], task)
  }
})

t.test('puppet: all options with run-as', async (t) => {
  const inv = buildBoltInvocation(
    { type: 'puppet', targets: ['web1', 'web2'], noop: true, environment: 'production', tags: ['nginx', 'base::ssh'] },
    OPTIONS)
  t.same(inv.args, [
    'command', 'run', ...COMMON, '--targets=web1,web2', '--run-as=root', '--',
    'puppet agent --test --color=false --noop --environment=production --tags=nginx,base::ssh'
  ])
  t.equal(inv.type, 'puppet')
  t.equal(inv.action, 'puppet agent')
})

t.test('puppet: minimal, and without run-as', async (t) => {
  const plain = buildBoltInvocation({ type: 'puppet', targets: ['web1'] }, OPTIONS)
  t.same(plain.args, ['command', 'run', ...COMMON, '--targets=web1', '--run-as=root', '--', 'puppet agent --test --color=false'])

  const noopFalse = buildBoltInvocation({ type: 'puppet', targets: ['web1'], noop: false, tags: [] }, OPTIONS)
  t.same(noopFalse.args, plain.args, 'noop false and empty tags add nothing')

  const noRunAs = buildBoltInvocation({ type: 'puppet', targets: ['web1'], environment: 'dev_2' },
    { ...OPTIONS, puppetRunAs: null })
  t.same(noRunAs.args, ['command', 'run', ...COMMON, '--targets=web1', '--', 'puppet agent --test --color=false --environment=dev_2'])
  t.notOk(noRunAs.args.some((a) => a.startsWith('--run-as')), 'no --run-as at all')

  const otherUser = buildBoltInvocation({ type: 'puppet', targets: ['web1'] },
    { ...OPTIONS, puppetRunAs: 'deploy', puppetAgentCommand: '/opt/puppetlabs/bin/puppet agent -t' })
  t.same(otherUser.args, ['command', 'run', ...COMMON, '--targets=web1', '--run-as=deploy', '--', '/opt/puppetlabs/bin/puppet agent -t'])
})

t.test('puppet: 50 tags are fine', async (t) => {
  const tags = Array.from({ length: MAX_TAGS }, (_, i) => `tag${i}`)
  const inv = buildBoltInvocation({ type: 'puppet', targets: ['web1'], tags }, OPTIONS)
  t.equal(inv.args[inv.args.length - 1], `puppet agent --test --color=false --tags=${tags.join(',')}`)
})

t.test('package: default action install, version', async (t) => {
  const inv = buildBoltInvocation({ type: 'package', targets: ['web1'], name: 'openssh-server' }, OPTIONS)
  t.same(inv.args, ['task', 'run', ...COMMON, '--targets=web1', '--params={"action":"install","name":"openssh-server"}', '--', 'package'])
  t.equal(inv.type, 'package')
  t.equal(inv.action, 'openssh-server')

  const withVersion = buildBoltInvocation(
    { type: 'package', targets: ['web1', 'web2'], name: 'nginx', action: 'upgrade', version: '1:9.2p1-2+deb12u10' }, OPTIONS)
  t.same(withVersion.args, [
    'task', 'run', ...COMMON, '--targets=web1,web2',
    '--params={"action":"upgrade","name":"nginx","version":"1:9.2p1-2+deb12u10"}', '--', 'package'
  ])
  for (const action of ['install', 'uninstall', 'upgrade', 'status'] as const) {
    const a = buildBoltInvocation({ type: 'package', targets: ['web1'], name: 'vim', action }, OPTIONS)
    t.equal(a.args[a.args.length - 3], `--params={"action":"${action}","name":"vim"}`)
  }
})

t.test('valid target edge cases', async (t) => {
  const targets = ['ssh://root@web1.example.com:22', 'winrm://win1:5985', 'user@host', '10.0.0.1', 'ssh://[::1]:22',
    'ssh://root@[fe80::1]', 'web_01', 'localhost', 'web1:1', 'web1:65535']
  for (const target of targets) t.ok(isValidTarget(target), `isValidTarget(${target})`)
  const inv = buildBoltInvocation({ type: 'command', targets, command: 'id' }, OPTIONS)
  t.same(inv.args, ['command', 'run', ...COMMON, `--targets=${targets.join(',')}`, '--', 'id'])

  const hundred = Array.from({ length: MAX_TARGETS }, (_, i) => `web${i}`)
  const big = buildBoltInvocation({ type: 'command', targets: hundred, command: 'id' }, OPTIONS)
  t.equal(big.args.filter((a) => a.startsWith('--targets=')).length, 1)
  t.ok(big.args.includes(`--targets=${hundred.join(',')}`), '100 targets in one element')
})

t.test('invalid targets throw', async (t) => {
  const bad = ['-x', '--help', '--targets=--help', '@/etc/passwd', '-', 'a,b', 'a b', 'web*', 'web?', 'web[1]', '{a,b}',
    'a\tb', 'ünïcode', '', 'a\nb', 'web1 ', '@web1',
    // A bracketed IPv6 host needs a scheme: Bolt reads a bare `[::1]` as a glob. Ports are 1–65535.
    '[::1]', '[::1]:22', 'root@[::1]', 'web1:0', 'web1:00', 'web1:022', 'web1:65536', 'web1:99999', 'ssh://web1:0']
  for (const target of bad) {
    t.notOk(isValidTarget(target), `isValidTarget(${JSON.stringify(target)}) is false`)
    rejects(t, { type: 'command', targets: [target], command: 'id' }, `target ${JSON.stringify(target)}`)
    // A bad name among good ones is still caught.
    rejects(t, { type: 'task', targets: ['web1', target], task: 'facts' }, `target ${JSON.stringify(target)} second`)
  }
})

t.test('target count limits', async (t) => {
  rejects(t, { type: 'command', targets: [], command: 'id' }, '0 targets')
  const many = Array.from({ length: MAX_TARGETS + 1 }, (_, i) => `web${i}`)
  t.equal(many.length, 101)
  rejects(t, { type: 'command', targets: many, command: 'id' }, '101 targets')
  rejects(t, { type: 'puppet', targets: many }, '101 targets (puppet)')
})

t.test('invalid commands throw', async (t) => {
  const bad = ['-x', '--version', '-', '@/etc/passwd', '@file', 'echo a\u0000b', '\u0000', '', 'x'.repeat(MAX_COMMAND_LENGTH + 1)]
  for (const command of bad) {
    t.notOk(isValidCommand(command), `isValidCommand(${JSON.stringify(command.slice(0, 20))}) is false`)
    rejects(t, { type: 'command', targets: ['web1'], command }, `command ${JSON.stringify(command.slice(0, 20))} (${command.length} chars)`)
  }
})

t.test('commands are measured in characters (code points), not UTF-16 units', async (t) => {
  // 😀 is one character and two UTF-16 units: the limit counts what the README and the schema count.
  const longest = 'echo ' + '😀'.repeat(MAX_COMMAND_LENGTH - 5)
  t.equal(longest.length, 2 * MAX_COMMAND_LENGTH - 5, 'more UTF-16 units than the limit')
  t.ok(isValidCommand(longest), `${MAX_COMMAND_LENGTH} characters are allowed`)
  t.equal(buildBoltInvocation({ type: 'command', targets: ['web1'], command: longest }, OPTIONS).args.at(-1), longest)
  t.notOk(isValidCommand(longest + '😀'), `${MAX_COMMAND_LENGTH + 1} characters are not`)
  rejects(t, { type: 'command', targets: ['web1'], command: longest + '😀' }, 'one character over')
})

/** `{"a": [[…]]}` with `arrays` nested arrays: the params object and the arrays are `arrays + 1` levels. */
function nestedParams (arrays: number): Record<string, unknown> {
  let value: unknown = []
  for (let i = 1; i < arrays; i++) value = [value]
  return { a: value }
}

t.test(`task params nest at most ${MAX_PARAMS_DEPTH} levels; deeper is a 400, never a stack overflow`, async (t) => {
  const atLimit = buildBoltInvocation({ type: 'task', targets: ['web1'], task: 'demo::echo', params: nestedParams(MAX_PARAMS_DEPTH - 1) }, OPTIONS)
  t.ok(atLimit.args.includes(`--params={"a":${'['.repeat(MAX_PARAMS_DEPTH - 1)}${']'.repeat(MAX_PARAMS_DEPTH - 1)}}`), `${MAX_PARAMS_DEPTH} levels pass`)
  // Objects count as arrays do; the secret key at depth is still redacted in the display.
  let deepObject: Record<string, unknown> = { password: 'hunter2' }
  for (let i = 2; i < MAX_PARAMS_DEPTH; i++) deepObject = { x: deepObject }
  t.notMatch(buildBoltInvocation({ type: 'task', targets: ['web1'], task: 'demo::echo', params: deepObject }, OPTIONS).display, 'hunter2')
  for (const arrays of [MAX_PARAMS_DEPTH, 3000, 1_000_000]) {
    let caught: Thrown | undefined
    try {
      buildBoltInvocation({ type: 'task', targets: ['web1'], task: 'demo::echo', params: nestedParams(arrays) }, OPTIONS)
    } catch (err) {
      caught = err as Thrown
    }
    t.equal(caught?.code, 'BOLT_STREAM_PARAMS_TOO_DEEP', `${arrays + 1} levels: BOLT_STREAM_PARAMS_TOO_DEEP`)
    t.equal(caught?.statusCode, 400, `${arrays + 1} levels: 400`)
    t.match(caught?.message, `deeper than ${MAX_PARAMS_DEPTH} levels`)
  }
  rejects(t, { type: 'task', targets: ['web1'], task: 'demo::echo', params: { a: [[{ b: Infinity }]] } }, 'Infinity at depth')
})

t.test('invalid task names and param names throw', async (t) => {
  for (const task of ['Bad-Name', '../x', 'a..b', 'mod::', '::x', 'A::b', '', '-x', 'a:b', 'a::b c', '1abc']) {
    rejects(t, { type: 'task', targets: ['web1'], task }, `task ${JSON.stringify(task)}`)
  }
  for (const key of ['_run_as', 'Name', 'a-b', '', '1a', 'a b', '--x']) {
    rejects(t, { type: 'task', targets: ['web1'], task: 'demo::info', params: { ok: 1, [key]: 'v' } }, `param ${JSON.stringify(key)}`)
  }
  rejects(t, { type: 'task', targets: ['web1'], task: 'demo::info', params: [] as unknown as Record<string, unknown> }, 'params array')
})

t.test('invalid puppet options throw', async (t) => {
  for (const environment of ['prod env', '../x', 'Prod', '', '-x', 'a,b']) {
    rejects(t, { type: 'puppet', targets: ['web1'], environment }, `environment ${JSON.stringify(environment)}`)
  }
  for (const tag of ['-x', 'a b', 'A', '', 'a,b', '--noop']) {
    rejects(t, { type: 'puppet', targets: ['web1'], tags: ['ok', tag] }, `tag ${JSON.stringify(tag)}`)
  }
  const tooMany = Array.from({ length: MAX_TAGS + 1 }, (_, i) => `t${i}`)
  t.equal(tooMany.length, 51)
  rejects(t, { type: 'puppet', targets: ['web1'], tags: tooMany }, '51 tags')
})

t.test('invalid package options throw', async (t) => {
  const badTokens = ['-x', '--force', 'a b', 'a;b', 'vim;rm -rf /', 'a'.repeat(257), '', '@file']
  for (const token of badTokens) {
    const shown = JSON.stringify(token.slice(0, 20))
    rejects(t, { type: 'package', targets: ['web1'], name: token }, `package name ${shown}`)
    rejects(t, { type: 'package', targets: ['web1'], name: 'vim', version: token }, `package version ${shown}`)
  }
  // 256 characters is still fine.
  const inv = buildBoltInvocation({ type: 'package', targets: ['web1'], name: 'a'.repeat(256) }, OPTIONS)
  t.equal(inv.action, 'a'.repeat(256))
  rejects(t, { type: 'package', targets: ['web1'], name: 'vim', action: 'purge' as 'install' }, 'package action purge')
})

t.test('display redacts secrets in commands', async (t) => {
  const cases = [
    'mysql -u root --password=hunter2 db',
    'sudo-tool --sudo-password hunter2 run',
    'login --password="hunter2"',
    "cli --api-key='hunter2' list",
    'deploy --token=hunter2',
    'MYSQL_PWD=hunter2 mysql -e status',
    'export GITHUB_TOKEN="hunter2"; gh api user',
    '(DB_PASSWORD=hunter2 ./migrate)',
    'git clone https://deploy:hunter2@git.example/repo.git',
    "curl -H 'Authorization: Bearer hunter2' https://api.example/",
    'curl -H "authorization: hunter2" https://api.example/'
  ]
  for (const command of cases) {
    const inv = buildBoltInvocation({ type: 'command', targets: ['web1'], command }, OPTIONS)
    t.notMatch(inv.display, /hunter2/, `display of ${command} hides the secret`)
    t.match(inv.display, /\[REDACTED\]/, `display of ${command} shows [REDACTED]`)
    t.equal(inv.args[inv.args.length - 1], command, 'the real argument keeps the secret')
  }
  const plain = buildBoltInvocation({ type: 'command', targets: ['web1'], command: 'echo passwd-check done' }, OPTIONS)
  t.notMatch(plain.display, /REDACTED/, 'no option, nothing redacted')
  t.match(plain.display, /passwd-check done/)
  for (const command of ['echo password check', 'cd $PWD && ls', 'git clone https://git.example/repo.git', 'echo http://a:b', 'A=1 ./run']) {
    t.equal(redactCommand(command), command, `nothing to redact in ${command}`)
  }
})

t.test('display redacts secret task params, args keep them', async (t) => {
  const params = { password: 'hunter2', token: 's3cr3t-tok', user: 'alice' }
  const inv = buildBoltInvocation({ type: 'task', targets: ['web1'], task: 'demo::login', params }, OPTIONS)
  t.notMatch(inv.display, /hunter2/)
  t.notMatch(inv.display, /s3cr3t-tok/)
  t.match(inv.display, /\[REDACTED\]/)
  t.match(inv.display, /alice/, 'non-secret params are shown')
  t.ok(inv.args.includes(`--params=${JSON.stringify(params)}`), 'real args keep the secrets')
  t.equal(params.password, 'hunter2', 'the caller\'s params object is not modified')
})
