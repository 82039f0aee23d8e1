import { createServer } from 'node:net'
import t from 'tap'
import { build, makeTokens } from '../helper.js'
import { cli, ID } from './run-cli.js'

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
  t.notOk((r.stdout + r.stderr).includes('\u001b'), 'no colours without a terminal')
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
  // Independent processes: run together.
  const [unknown, missingTargets, missingArgument, badParam, badChoice, refused, badId, missing] = await Promise.all([
    cli(['list', '--bogus'], env),
    cli(['run', 'command', 'uptime'], env),
    cli(['show'], env),
    cli(['run', 'task', 'demo::echo', '-t', 'a', '-p', 'novalue'], env),
    cli(['run', 'package', 'curl', '-t', 'a', '--action', 'nope'], env),
    cli(['run', 'command', 'uptime', '-t', 'a b'], env),
    cli(['show', 'not-an-id'], env),
    cli(['show', '00000000-0000-4000-8000-000000000000'], env)
  ])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown option '--bogus'/)
  t.equal(missingTargets.code, 2)
  t.match(missingTargets.stderr, /--targets <names>' not specified/)
  t.equal(missingArgument.code, 2)
  t.match(missingArgument.stderr, /missing required argument 'id'/)
  t.equal(badParam.code, 2)
  t.match(badParam.stderr, /expected key=value/)
  t.equal(badChoice.code, 2)
  t.match(badChoice.stderr, /argument 'nope' is invalid/)
  // The API refuses it (400): a usage error too, with the API's message and code.
  t.equal(refused.code, 2)
  t.match(refused.stderr, /^bolt-stream: .*targets.*\(BOLT_STREAM_\w+\)$/m)
  t.equal(badId.code, 2)
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
