import t from 'tap'
import { eventFrame } from '../../../services/streaming/sse-frames.js'
import { eventFor, publicEvent, recordFor } from '../../../services/executions/visibility.js'
import type { ExecutionEvent } from '../../../schemas/index.js'
import { makeRecord } from '../../helper.js'

const event = (type: ExecutionEvent['type'], data: unknown, seq = 1): ExecutionEvent => ({ type, executionId: 'x', timestamp: '2024-01-01T00:00:00.000Z', seq, data })

t.test('command, stdout and stderr are hidden; status and error pass unchanged', async (t) => {
  for (const type of ['command', 'stdout', 'stderr'] as const) t.equal(publicEvent(event(type, { output: 'x' })), null, type)
  const status = event('status', { status: 'running' })
  t.equal(publicEvent(status), status, 'the same object')
  const error = event('error', { status: 'failed', error: { kind: 'k', message: 'm' } })
  t.equal(publicEvent(error), error)
  t.equal(eventFor(event('stdout', {}), true)?.type, 'stdout', 'an expert sees everything')
})

t.test('complete loses raw output only, and is derived once', async (t) => {
  const results = [
    { target: 'a', status: 'success', exitCode: 0, stdout: 'out', stderr: 'err' },
    { target: 'b', status: 'success', value: { answer: 42 } }
  ]
  const complete = event('complete', { status: 'success', results, outputTruncated: false }, 9)
  const view = publicEvent(complete)!
  t.same(view.data, { status: 'success', results: [{ target: 'a', status: 'success', exitCode: 0 }, { target: 'b', status: 'success', value: { answer: 42 } }], outputTruncated: false })
  t.equal(view.seq, 9)
  t.equal(publicEvent(complete), view, 'cached: one view (and one frame) for every reader')
  t.match(complete.data, { results: [{ stdout: 'out' }] }, 'the logged event is untouched')
  t.notMatch(eventFrame(view), /"stdout"/)
  const plain = event('complete', { status: 'success', results: [{ target: 'b', status: 'success' }] })
  t.equal(publicEvent(plain), plain, 'nothing to hide: the same object')
})

t.test('records: no command, results without raw output', async (t) => {
  const record = makeRecord('x', { command: 'bolt command run secret', results: [{ target: 'a', status: 'failed', exitCode: 1, stderr: 'boom', error: { kind: 'k', message: 'm' } }] })
  t.same(recordFor(record, false), { ...record, command: null, results: [{ target: 'a', status: 'failed', exitCode: 1, error: { kind: 'k', message: 'm' } }] })
  t.equal(recordFor(record, true), record)
})
