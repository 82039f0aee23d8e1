import t from 'tap'
import { build, until } from '../helper.js'

t.test('a command runs through the stand-in and its record completes', async (t) => {
  const { app, spawns } = await build(t)
  const res = await app.inject({ method: 'POST', url: '/api/commands', payload: { targets: ['a'], command: 'echo hi' } })
  t.equal(res.statusCode, 202)
  const { executionId } = res.json()
  t.equal(res.headers.location, `/api/executions/${executionId}`)
  await until(async () => (await app.inject(`/api/executions/${executionId}`)).json().status !== 'running')
  const record = (await app.inject(`/api/executions/${executionId}`)).json()
  t.equal(record.status, 'success')
  t.equal(record.results[0].stdout, 'hi\n')
  t.equal(spawns().length, 1)
})
