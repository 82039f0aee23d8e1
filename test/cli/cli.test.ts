import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import t from 'tap'
import { BoltStreamClient } from '../../client/index.js'
import { build, makeTokens, ROOT, until } from '../helper.js'

const BIN = `${ROOT}bin/bolt-stream.mjs`

interface Result { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

interface Running { child: ChildProcess, stdout: () => string, stderr: () => string, done: Promise<Result> }

/** Runs the CLI as its own process, as a user would (no TTY). */
function start (args: string[], env: Record<string, string> = {}, command: string[] = [process.execPath, BIN]): Running {
  const child = spawn(command[0], [...command.slice(1), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const done = new Promise<Result>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
  return { child, stdout: () => stdout, stderr: () => stderr, done }
}

function cli (args: string[], env: Record<string, string> = {}): Promise<Result> {
  return start(args, env).done
}

const ID = /^[0-9a-f-]{36}$/

t.test('run --follow prints each line with its [target] prefix, stderr to stderr, exit 0 on success', async (t) => {
  const { url } = await build(t, { listen: true })
  const r = await cli(['run', 'command', 'echo "hello from $(hostname -s 2>/dev/null || echo x)" >/dev/null; echo one; echo two; echo warn >&2', '-t', 'a,b', '--follow'], { BOLT_STREAM_URL: url })
  t.equal(r.code, 0, r.stderr)
  for (const target of ['a', 'b']) {
    t.match(r.stdout, new RegExp(`^\\[${target}\\] one\\n\\[${target}\\] two$`, 'm'), `${target}'s lines in order, prefixed`)
    t.match(r.stderr, new RegExp(`^\\[${target}\\] warn$`, 'm'), `${target}'s stderr on stderr`)
  }
  t.notMatch(r.stdout, /warn/, 'no stderr text on stdout')
  t.match(r.stderr, /finished success/)
  t.notMatch(r.stdout + r.stderr, /\u001b/, 'no colours without a terminal')
})

t.test('a failed run exits 1; without --follow the id is printed', async (t) => {
  const { url } = await build(t, { listen: true })
  const env = { BOLT_STREAM_URL: url }
  const failed = await cli(['run', 'command', 'echo bad; exit 3', '-t', 'a', '-f'], env)
  t.equal(failed.code, 1)
  t.match(failed.stdout, /^\[a\] bad$/m)
  t.match(failed.stderr, /\[a\] failed \(exit 3\)/)
  t.match(failed.stderr, /finished failed/)
  const accepted = await cli(['run', 'task', 'demo::echo', '-t', 'a', '-p', 'message=hi', '-p', 'count=2'], env)
  t.equal(accepted.code, 0, accepted.stderr)
  const id = accepted.stdout.trim()
  t.match(id, ID, 'the id alone on stdout')
  const followed = await cli(['follow', id], env)
  t.equal(followed.code, 0, followed.stderr)
  t.match(followed.stdout, /"message": ?"hi"/, 'the task got the parameter as text')
  t.match(followed.stdout, /"count": ?2/, 'and the JSON value as a number')
  // Following an execution that has ended: its final status again, nothing re-printed twice.
  const again = await cli(['follow', id], env)
  t.equal(again.code, 0)
})

t.test('usage errors exit 2 with a message', async (t) => {
  const { url } = await build(t, { listen: true })
  const env = { BOLT_STREAM_URL: url }
  const unknown = await cli(['list', '--bogus'], env)
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown option '--bogus'/)
  const missingTargets = await cli(['run', 'command', 'uptime'], env)
  t.equal(missingTargets.code, 2)
  t.match(missingTargets.stderr, /--targets <names>' not specified/)
  const missingArgument = await cli(['show'], env)
  t.equal(missingArgument.code, 2)
  t.match(missingArgument.stderr, /missing required argument 'id'/)
  const badParam = await cli(['run', 'task', 'demo::echo', '-t', 'a', '-p', 'novalue'], env)
  t.equal(badParam.code, 2)
  t.match(badParam.stderr, /expected key=value/)
  const badChoice = await cli(['list', '--status', 'nope'], env)
  t.equal(badChoice.code, 2)
  // The API refuses it (400): a usage error too, with the API's message and code.
  const refused = await cli(['run', 'command', 'uptime', '-t', 'a b'], env)
  t.equal(refused.code, 2)
  t.match(refused.stderr, /bolt-stream: .*\(BOLT_STREAM_VALIDATION\w*\)|\(BOLT_STREAM_\w+\)/)
  const badId = await cli(['show', 'not-an-id'], env)
  t.equal(badId.code, 2)
  const missing = await cli(['show', '00000000-0000-4000-8000-000000000000'], env)
  t.equal(missing.code, 1, 'an unknown execution is not a usage error')
  t.match(missing.stderr, /BOLT_STREAM_EXECUTION_NOT_FOUND/)
})

t.test('connection refused and authentication failures are told clearly', async (t) => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const dead = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  await new Promise<void>((resolve) => server.close(() => resolve()))
  const refused = await cli(['list', '--url', dead])
  t.equal(refused.code, 1)
  t.match(refused.stderr, `cannot connect to ${dead}: connection refused`)

  const tokens = makeTokens({ reader: ['read'] })
  const { url } = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env } })
  const anonymous = await cli(['list'], { BOLT_STREAM_URL: url })
  t.equal(anonymous.code, 1)
  t.match(anonymous.stderr, /not authenticated: .*BOLT_STREAM_UNAUTHORIZED.*BOLT_STREAM_TOKEN/)
  const wrong = await cli(['list', '--token', 'nope'], { BOLT_STREAM_URL: url })
  t.match(wrong.stderr, /BOLT_STREAM_INVALID_TOKEN/)
  const forbidden = await cli(['run', 'command', 'uptime', '-t', 'a'], { BOLT_STREAM_URL: url, BOLT_STREAM_TOKEN: tokens.token.reader })
  t.equal(forbidden.code, 1)
  t.match(forbidden.stderr, /not allowed: .*BOLT_STREAM_FORBIDDEN/)
  const allowed = await cli(['list'], { BOLT_STREAM_URL: url, BOLT_STREAM_TOKEN: tokens.token.reader })
  t.equal(allowed.code, 0, 'the token from the environment')
})

t.test('output, list, show, cancel', async (t) => {
  const { url } = await build(t, { listen: true })
  const env = { BOLT_STREAM_URL: url }
  const client = new BoltStreamClient({ baseUrl: url })
  const run = await cli(['run', 'command', 'printf "x\\ny\\n"', '-t', 'a,b', '-f'], env)
  t.equal(run.code, 0)
  const id = /execution ([0-9a-f-]{36})/.exec(run.stderr)![1]
  const all = await cli(['output', id], env)
  t.equal(all.code, 0)
  t.match(all.stdout, /^\[a\] x\n\[a\] y$/m)
  t.match(all.stdout, /^\[b\] x\n\[b\] y$/m)
  const one = await cli(['output', id, '--target', 'b'], env)
  t.equal(one.stdout, 'x\ny\n', 'one target: its text as printed')

  const list = await cli(['list', '--target', 'b'], env)
  t.equal(list.code, 0)
  t.match(list.stdout, /^ID\s+STATUS\s+TYPE/)
  t.match(list.stdout, new RegExp(`^${id}\\s+success\\s+command`, 'm'))
  const json = JSON.parse((await cli(['list', '--json', '--limit', '1'], env)).stdout)
  t.equal(json.executions[0].id, id)
  const show = await cli(['show', id], env)
  t.match(show.stdout, /success/)
  t.match(show.stdout, /a: success \(exit 0\)/)
  t.equal(JSON.parse((await cli(['show', id, '--json'], env)).stdout).id, id)

  const long = (await cli(['run', 'command', 'sleep 30', '-t', 'a'], env)).stdout.trim()
  const cancel = await cli(['cancel', long], env)
  t.equal(cancel.code, 0, cancel.stderr)
  t.match(cancel.stdout, `${long} cancel`)
  await until(async () => (await client.getExecution(long)).status === 'cancelled', 15_000, 'the cancel')
  const followed = await cli(['follow', long], env)
  t.equal(followed.code, 1, 'a cancelled execution: exit 1')
  t.match(followed.stderr, /cancelled/)
})

t.test('rerun --failed --follow runs the failed targets again', async (t) => {
  const { url } = await build(t, { listen: true })
  const env = { BOLT_STREAM_URL: url }
  const client = new BoltStreamClient({ baseUrl: url })
  const first = await cli(['run', 'command', 'echo ok', '-t', 'a,unreachable', '-f'], env)
  t.equal(first.code, 1, 'partial is not success')
  t.match(first.stderr, /finished partial/)
  const id = /execution ([0-9a-f-]{36})/.exec(first.stderr)![1]
  const rerun = await cli(['rerun', id, '--failed', '--follow'], env)
  t.equal(rerun.code, 1)
  const rerunId = /execution ([0-9a-f-]{36})/.exec(rerun.stderr)![1]
  const record = await client.getExecution(rerunId)
  t.same(record.targets, ['unreachable'])
  t.equal(record.rerunOf, id)
  const all = await cli(['rerun', id], env)
  t.equal(all.code, 0)
  t.same((await client.getExecution(all.stdout.trim())).targets, ['a', 'unreachable'])
})

t.test('Ctrl-C stops following with 130 and leaves the execution running', async (t) => {
  const { url } = await build(t, { listen: true })
  const client = new BoltStreamClient({ baseUrl: url })
  const { executionId } = await client.runCommand({ targets: ['a'], command: 'echo started; sleep 30', expertMode: true })
  t.teardown(() => client.cancel(executionId).catch(() => {}))
  const following = start(['follow', executionId], { BOLT_STREAM_URL: url })
  await until(() => following.stdout().includes('[a] started'), 15_000, 'the output')
  following.child.kill('SIGINT')
  const r = await following.done
  t.equal(r.code, 130)
  t.match(r.stderr, `stopped following ${executionId}; it goes on`)
  t.equal((await client.getExecution(executionId)).status, 'running')
})

t.test('on a terminal: colours, and control sequences from the output removed', { skip: existsSync('/usr/bin/script') ? false : 'needs script(1) (Debian package bsdutils)' }, async (t) => {
  const { url } = await build(t, { listen: true })
  const env = { BOLT_STREAM_URL: url }
  const hostile = 'printf "\\033[2J\\033]0;owned\\007clean\\rtext\\n"'
  const plain = await cli(['run', 'command', hostile, '-t', 'a', '-f'], env)
  t.match(plain.stdout, '\u001b[2J', 'not a terminal: the output as printed')
  // script(1) gives the CLI a real pseudo-terminal.
  const command = `${process.execPath} ${BIN} run command '${hostile.replace(/'/g, "'\\''")}' -t a -f`
  const tty = await start([], env, ['script', '-qfec', command, '/dev/null']).done
  t.equal(tty.code, 0, tty.stdout)
  t.notMatch(tty.stdout, '\u001b[2J', 'no screen clearing')
  t.notMatch(tty.stdout, '\u001b]0;', 'no window title')
  t.match(tty.stdout, /\[a\] (\u001b\[22m)?cleantext/, 'the text kept, the carriage return gone')
  t.match(tty.stdout, '\u001b[1m[a] ', 'prefixes in bold')
  t.match(tty.stdout, '\u001b[32msuccess', 'statuses in colour')
})

t.test('npx bolt-stream runs from the checkout without a build', async (t) => {
  t.notOk(existsSync(`${ROOT}dist/cli/main.js`) && process.env.CI_REQUIRE_SOURCE === '1', 'runs from source')
  const { url } = await build(t, { listen: true })
  const r = await start(['list', '--json'], { BOLT_STREAM_URL: url }, ['npx', '--no-install', 'bolt-stream']).done
  t.equal(r.code, 0, r.stderr)
  t.same(JSON.parse(r.stdout), { executions: [], nextCursor: null })
})
