import t from 'tap'
import { BoltStreamClient } from '../../client/index.js'
import { build, until } from '../helper.js'
import { cli, followedId, start } from './run-cli.js'

t.test('output, list, show, cancel', async (t) => {
  const { url } = await build(t, { listen: true })
  const env = { BOLT_STREAM_URL: url }
  const client = new BoltStreamClient({ baseUrl: url })
  const run = await cli(['run', 'command', 'printf "x\\ny\\n"', '-t', 'a,b', '-f'], env)
  t.equal(run.code, 0)
  const id = followedId(run.stderr)
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
  const first = await cli(['run', 'command', 'echo ok', '-t', 'a,unreachable1', '-f'], env)
  t.equal(first.code, 1, 'partial is not success')
  t.match(first.stderr, /finished partial/)
  const id = followedId(first.stderr)
  const rerun = await cli(['rerun', id, '--failed', '--follow'], env)
  t.equal(rerun.code, 1)
  const rerunId = followedId(rerun.stderr)
  const record = await client.getExecution(rerunId)
  t.same(record.targets, ['unreachable1'])
  t.equal(record.rerunOf, id)
  const all = await cli(['rerun', id], env)
  t.equal(all.code, 0)
  t.same((await client.getExecution(all.stdout.trim())).targets, ['a', 'unreachable1'])
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
