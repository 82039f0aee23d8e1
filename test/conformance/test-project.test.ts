// The service tests' fixture project (test/fixtures/projects/test) through the stand-in: made-up
// target names run locally, the `unreachable` group fails to connect, the demo tasks are real task
// files, and the project's YAML plans run as Bolt runs them.
import { spawn } from 'node:child_process'
import { mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { copyProject } from '../fixtures/projects.js'

const STAND_IN = fileURLToPath(new URL('../fixtures/bolt-stand-in.mjs', import.meta.url))
const COMMON = ['--format=json', '--stream', '--no-color', '--no-save-rerun']

function env (): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, STANDIN_STARTUP_DELAY_MS: '0' }
  for (const k of Object.keys(e)) if ((k.startsWith('STANDIN_') && k !== 'STANDIN_STARTUP_DELAY_MS') || k === 'NODE_OPTIONS' || k === 'NODE_V8_COVERAGE' || k.startsWith('_TAPJS_')) delete e[k]
  return e
}

function bolt (dir: string, args: string[]): Promise<{ stdout: string, stderr: string, code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [STAND_IN, `--project=${dir}`, ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
    child.once('close', (code) => resolve({ stdout, stderr, code }))
  })
}

const results = (stdout: string): any[] => stdout.split('\n').filter((l) => l.startsWith('{"target":')).map((l) => JSON.parse(l))

t.test('the test project', async (t) => {
  const dir = realpathSync(copyProject('test', mkdtempSync(join(tmpdir(), 'bolt-test-project-'))))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const [command, info, echo, fail, sleep, deploy, broken, pkg] = await Promise.all([
    bolt(dir, ['command', 'run', ...COMMON, '--targets=a,unreachable1,web1', '--', 'echo hi']),
    bolt(dir, ['task', 'run', ...COMMON, '--targets=t1', '--params={}', '--', 'demo::info']),
    bolt(dir, ['task', 'run', ...COMMON, '--targets=t1', '--params={"name":"x","count":3}', '--', 'demo::echo']),
    bolt(dir, ['task', 'run', ...COMMON, '--targets=t1', '--', 'demo::fail']),
    bolt(dir, ['task', 'run', ...COMMON, '--targets=t1', '--params={"ms":250}', '--', 'demo::sleep']),
    bolt(dir, ['plan', 'run', 'demo::deploy', ...COMMON, '--targets=a,b', 'version=2.1']),
    bolt(dir, ['plan', 'run', 'demo::broken', ...COMMON, '--targets=a']),
    bolt(dir, ['task', 'run', ...COMMON, '--targets=a', '--params={"action":"install","name":"curl","version":"7.88.1-10"}', '--', 'package'])
  ])

  t.equal(command.code, 1, 'one target failed: exit 1')
  const byTarget = Object.fromEntries(results(command.stdout).map((r) => [r.target, r]))
  t.match(byTarget.a, { status: 'success', value: { stdout: 'hi\n', exit_code: 0 } })
  t.match(byTarget.web1, { status: 'success', value: { stdout: 'hi\n' } })
  t.same(byTarget.unreachable1, {
    target: 'unreachable1',
    action: 'command',
    object: null,
    status: 'failure',
    value: { _error: { details: {}, kind: 'puppetlabs.tasks/connect-error', msg: 'Failed to connect to unreachable1: getaddrinfo: Name or service not known', issue_code: 'CONNECT_ERROR' } }
  })
  t.match(command.stdout, /^\[a\] out: hi$/m)

  t.same(results(info.stdout)[0].value, { hostname: 'vm', greeting: 'hello' }, 'demo::info')
  t.same(results(echo.stdout)[0].value, { name: 'x', count: 3, _task: 'demo::echo' }, 'demo::echo prints the parameters it got')
  t.equal(fail.code, 1)
  t.same(results(fail.stdout)[0].value._error, {
    kind: 'puppetlabs.tasks/task-error', issue_code: 'TASK_ERROR', msg: 'The task failed with exit code 4 and no stdout, but stderr contained:\nsomething broke\n', details: { exit_code: 4 }
  }, 'demo::fail')
  t.same(results(sleep.stdout)[0].value, { slept: 250 }, 'demo::sleep')
  t.match(sleep.stdout, /^\[t1\] err: tick 1\n\[t1\] err: tick 2\n/m, 'demo::sleep ticks on stderr')
  t.same(results(pkg.stdout)[0].value, { status: 'installed', version: '7.88.1-10' }, 'the bundled package task')

  t.equal(deploy.code, 0)
  const last = deploy.stdout.trimEnd().split('\n').at(-1)!
  t.same(JSON.parse(last), { status: 'deployed', version: '2.1', steps: 'step 1\nstep 2\nstep 3\n', hostname: 'vm' }, 'demo::deploy returns its hash')
  t.same(deploy.stdout.split('\n').filter((l) => l.startsWith('[a] ')), ['[a] out: step 1', '[a] out: step 2', '[a] out: step 3', '[a] out: {"hostname":"vm","greeting":"hello"}'])
  t.match(deploy.stderr, /stream_experimental.*\ndeploying version 2\.1\ndeployed 2\.1\n$/)

  t.equal(broken.code, 1)
  t.same(JSON.parse(broken.stdout.trimEnd().split('\n').at(-1)!), {
    kind: 'bolt/evaluation-error', msg: 'Evaluation Error: Error while evaluating a Function Call, deploy failed', details: { file: join(dir, 'modules/demo/plans/broken.yaml'), line: 11 }
  })
  t.match(broken.stderr, /about to fail\n$/)
})
