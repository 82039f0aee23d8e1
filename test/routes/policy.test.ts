import t from 'tap'
import { loadConfig } from '../../services/config/load-config.js'
import { build, tempDir, waitFinished } from '../helper.js'

t.test('COMMAND_ALLOWLIST and TASK_ALLOWLIST: whole-value matches, 403 otherwise, nothing spawned', async (t) => {
  const { app, spawns } = await build(t, {
    env: { COMMAND_ALLOWLIST: 'uptime|echo [a-z]+', TASK_ALLOWLIST: 'demo::info|package' }
  })
  const post = (url: string, payload: Record<string, unknown>) => app.inject({ method: 'POST', url, payload })

  for (const command of ['rm -rf /tmp/x', 'uptime; rm -rf /tmp/x', 'echo hi && reboot', 'echo HI']) {
    const res = await post('/api/commands', { targets: ['a'], command })
    t.equal(res.statusCode, 403, command)
    t.equal(res.json().error.code, 'BOLT_STREAM_COMMAND_NOT_ALLOWED')
  }
  const denied = await post('/api/tasks', { targets: ['a'], task: 'demo::fail' })
  t.equal(denied.statusCode, 403)
  t.equal(denied.json().error.code, 'BOLT_STREAM_TASK_NOT_ALLOWED')
  t.equal(spawns().length, 0, 'no Bolt run for a refused request')

  const ok = await post('/api/commands', { targets: ['a'], command: 'echo hi' })
  t.equal(ok.statusCode, 202)
  t.equal((await waitFinished(app, ok.json().executionId)).status, 'success')
  t.equal((await post('/api/tasks', { targets: ['a'], task: 'demo::info' })).statusCode, 202)
  t.equal((await post('/api/packages', { targets: ['a'], name: 'curl' })).statusCode, 202, 'package runs are the task "package"')
  t.equal((await post('/api/puppet-runs', { targets: ['a'] })).statusCode, 202, 'Puppet runs are the operator\'s own command')
})

t.test('without allowlists everything valid runs; a bad pattern stops start-up naming the setting', async (t) => {
  const { app } = await build(t)
  t.equal((await app.inject({ method: 'POST', url: '/api/commands', payload: { targets: ['a'], command: 'true' } })).statusCode, 202)
  const dir = tempDir(t)
  t.throws(() => loadConfig({ COMMAND_ALLOWLIST: 'echo (' }, dir), /COMMAND_ALLOWLIST is not a valid regular expression/)
  t.throws(() => loadConfig({ TASK_ALLOWLIST: '[' }, dir), /TASK_ALLOWLIST is not a valid regular expression/)
})
