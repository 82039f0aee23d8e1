import t from 'tap'
import FakeTimers from '@sinonjs/fake-timers'
import { bufferOutput, type TimerApi } from '../../../services/executions/output-buffering.js'
import type { StreamingCallback } from '../../../services/streaming/streaming-callback.js'

const INTERVAL = 100

type Delivery =
  | { kind: 'stdout' | 'stderr', text: string, target: string | null, at: number }
  | { kind: 'command' | 'truncated', text: string, at: number }
  | { kind: 'flush', at: number }

function setup () {
  const clock = FakeTimers.createClock()
  const timers: TimerApi = {
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (h) => clock.clearTimeout(h as Parameters<typeof clock.clearTimeout>[0]),
    now: () => clock.now
  }
  const log: Delivery[] = []
  const downstream: StreamingCallback = {
    onCommand: (text) => log.push({ kind: 'command', text, at: clock.now }),
    onStdout: (text, target) => log.push({ kind: 'stdout', text, target, at: clock.now }),
    onStderr: (text, target) => log.push({ kind: 'stderr', text, target, at: clock.now }),
    onTruncated: (text) => log.push({ kind: 'truncated', text, at: clock.now }),
    flush: () => log.push({ kind: 'flush', at: clock.now })
  }
  const buffered = bufferOutput(downstream, INTERVAL, timers)
  const outputs = (kind: 'stdout' | 'stderr', target: string | null) =>
    log.filter((d): d is Extract<Delivery, { target: string | null }> =>
      d.kind === kind && 'target' in d && d.target === target)
  return { clock, log, buffered, outputs }
}

t.test('first chunk after silence is delivered within one tick', async (t) => {
  const { clock, log, buffered } = setup()
  clock.tick(5000)
  buffered.onStdout?.('hello\n', 'web1')
  clock.tick(1)
  t.strictSame(log, [{ kind: 'stdout', text: 'hello\n', target: 'web1', at: 5000 }], 'delivered at once (delay 0)')

  // After a long silence, again without waiting for the interval.
  clock.tick(1000)
  buffered.onStdout?.('again\n', 'web1')
  clock.tick(1)
  t.equal(log.length, 2)
  t.ok(log[1].at - 6000 <= 1, `second delivery after silence at +${log[1].at - 6000} ms`)
  t.equal(clock.countTimers(), 0, 'no timer left once delivered')
})

t.test('chunks within the window are joined into one delivery', async (t) => {
  const { clock, buffered, outputs } = setup()
  buffered.onStdout?.('a', 'web1')
  clock.tick(1)
  clock.tick(9) // t = 10
  buffered.onStdout?.('b', 'web1')
  clock.tick(40) // t = 50
  buffered.onStdout?.('c', 'web1')
  clock.tick(49) // t = 99
  buffered.onStdout?.('d', 'web1')
  t.equal(outputs('stdout', 'web1').length, 1, 'nothing yet within the window')
  clock.tick(1) // t = 100
  const got = outputs('stdout', 'web1')
  t.strictSame(got.map((d) => [d.text, d.at]), [['a', 0], ['bcd', 100]])
})

t.test('continuous output: a throttle, not a debounce', async (t) => {
  const { clock, buffered, outputs } = setup()
  const sentAt = new Map<string, number>()
  let input = ''
  // A chunk every 10 ms for one second (from timers, like real stream data).
  let i = 0
  const producer = clock.setInterval(() => {
    const chunk = `c${i++};`
    sentAt.set(chunk, clock.now)
    input += chunk
    buffered.onStdout?.(chunk, 'web1')
  }, 10)
  clock.tick(1000)
  clock.clearInterval(producer)
  clock.tick(500)
  const got = outputs('stdout', 'web1')

  t.equal(got.map((d) => d.text).join(''), input, 'all text, in order, exactly once')
  t.ok(got.length >= 9 && got.length <= 12, `about one delivery per interval (${got.length} for 1 s)`)
  let minGap = Infinity
  for (let k = 1; k < got.length; k++) minGap = Math.min(minGap, got[k].at - got[k - 1].at)
  t.ok(minGap >= INTERVAL, `consecutive deliveries are at least one interval apart (closest: ${minGap} ms)`)
  let longestWait = 0
  for (const d of got) {
    for (const chunk of d.text.split(';').filter((c) => c !== '')) {
      longestWait = Math.max(longestWait, d.at - (sentAt.get(chunk + ';') ?? Infinity))
    }
  }
  t.ok(longestWait <= INTERVAL, `no chunk waits longer than the interval (longest ${longestWait} ms)`)
  t.ok(got[0].at <= 11, 'the first chunk was not held back')
  t.ok(got[got.length - 2].at < 1000, 'deliveries happen while output continues')
  t.equal(clock.countTimers(), 0)
})

t.test('keys are batched independently', async (t) => {
  const { clock, buffered, outputs, log } = setup()
  buffered.onStdout?.('o-a1', 'a')
  clock.tick(1)
  clock.tick(9) // t = 10: other keys are still silent, they go out at once
  buffered.onStdout?.('o-b1', 'b')
  buffered.onStderr?.('e-a1', 'a')
  buffered.onStdout?.('o-n1', null)
  buffered.onStderr?.('e-n1', null)
  buffered.onStdout?.('o-a2', 'a') // waits for stdout/a's interval
  clock.tick(1)
  t.strictSame(log.map((d) => [d.kind, 'target' in d ? d.target : undefined, 'text' in d ? d.text : undefined, d.at]), [
    ['stdout', 'a', 'o-a1', 0],
    ['stdout', 'b', 'o-b1', 10],
    ['stderr', 'a', 'e-a1', 10],
    ['stdout', null, 'o-n1', 10],
    ['stderr', null, 'e-n1', 10]
  ])
  clock.tick(89) // t = 100
  t.strictSame(outputs('stdout', 'a').map((d) => [d.text, d.at]), [['o-a1', 0], ['o-a2', 100]])
  // A target named like the stream of another key is still its own key.
  buffered.onStdout?.('x', 'e')
  buffered.onStderr?.('y', 'e')
  buffered.onStdout?.('z', 'null')
  clock.tick(200)
  t.strictSame(outputs('stdout', 'e').map((d) => d.text), ['x'])
  t.strictSame(outputs('stderr', 'e').map((d) => d.text), ['y'])
  t.strictSame(outputs('stdout', 'null').map((d) => d.text), ['z'])
  t.strictSame(outputs('stdout', null).map((d) => d.text), ['o-n1'])
})

t.test('flush delivers everything pending, in arrival order, then flushes downstream', async (t) => {
  const { clock, buffered, log } = setup()
  // Make every key "recently delivered" so new chunks wait.
  buffered.onStdout?.('.', 'a')
  buffered.onStdout?.('.', 'b')
  buffered.onStderr?.('.', 'a')
  clock.tick(1)
  log.length = 0
  clock.tick(10)
  buffered.onStdout?.('b1', 'b')
  buffered.onStderr?.('ea1', 'a')
  buffered.onStdout?.('a1', 'a')
  buffered.onStdout?.('b2', 'b')
  buffered.onStdout?.('n1', null) // silent key: scheduled with delay 0, still pending until a tick
  t.equal(log.length, 0, 'nothing delivered before the flush')
  buffered.flush()
  t.strictSame(log.map((d) => [d.kind, 'target' in d ? d.target : '-', 'text' in d ? d.text : '-']), [
    ['stdout', 'b', 'b1b2'],
    ['stderr', 'a', 'ea1'],
    ['stdout', 'a', 'a1'],
    ['stdout', null, 'n1'],
    ['flush', '-', '-']
  ])
  t.ok(log.every((d) => d.at === 11), 'all delivered synchronously by flush')
  t.equal(clock.countTimers(), 0, 'flush cancels the pending timers')
  clock.tick(1000)
  t.equal(log.length, 5, 'nothing delivered twice')

  // A flush with nothing pending still flushes downstream.
  buffered.flush()
  t.strictSame(log.slice(5).map((d) => d.kind), ['flush'])
})

t.test('after a flush the key waits a full interval again', async (t) => {
  const { clock, buffered, outputs } = setup()
  buffered.onStdout?.('a', 'w')
  buffered.flush()
  clock.tick(30)
  buffered.onStdout?.('b', 'w')
  clock.tick(69)
  t.equal(outputs('stdout', 'w').length, 1)
  clock.tick(1)
  t.strictSame(outputs('stdout', 'w').map((d) => [d.text, d.at]), [['a', 0], ['b', 100]])
})

t.test('onTruncated delivers pending output before the marker', async (t) => {
  const { clock, buffered, log } = setup()
  buffered.onStdout?.('first', 'web1')
  clock.tick(1)
  clock.tick(10)
  buffered.onStdout?.('pending-out', 'web1')
  buffered.onStderr?.('pending-err', 'web2')
  buffered.onTruncated?.('Output limit reached')
  const kinds = log.slice(1).map((d) => [d.kind, 'text' in d ? d.text : '-'])
  t.strictSame(kinds, [
    ['stdout', 'pending-out'],
    ['stderr', 'pending-err'],
    ['flush', '-'],
    ['truncated', 'Output limit reached']
  ])
  t.equal(clock.countTimers(), 0)
})

t.test('close delivers pending output, then ignores chunks and leaves no timers', async (t) => {
  const { clock, buffered, log } = setup()
  buffered.onStdout?.('a', 'web1')
  clock.tick(1)
  clock.tick(10)
  buffered.onStdout?.('b', 'web1')
  buffered.onStderr?.('c', null)
  t.ok(clock.countTimers() > 0, 'timers are pending before close')
  buffered.close()
  t.strictSame(log.map((d) => [d.kind, 'text' in d ? d.text : '-']), [['stdout', 'a'], ['stdout', 'b'], ['stderr', 'c'], ['flush', '-']])
  t.equal(clock.countTimers(), 0, 'no timers after close')
  buffered.onStdout?.('late', 'web1')
  buffered.onStderr?.('late', 'web1')
  t.equal(clock.countTimers(), 0, 'late chunks start no timers')
  clock.tick(10_000)
  t.equal(log.length, 4, 'late chunks are ignored')
})

t.test('onCommand passes straight through', async (t) => {
  const { buffered, log, clock } = setup()
  buffered.onStdout?.('x', 'a')
  buffered.onCommand?.('bolt command run -- uptime')
  t.strictSame(log, [{ kind: 'command', text: 'bolt command run -- uptime', at: 0 }], 'synchronous, not batched')
  t.equal(clock.countTimers(), 1, 'only the output timer')
})

t.test('a downstream without callbacks is fine', async (t) => {
  const clock = FakeTimers.createClock()
  const buffered = bufferOutput({}, INTERVAL, {
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (h) => clock.clearTimeout(h as Parameters<typeof clock.clearTimeout>[0]),
    now: () => clock.now
  })
  t.doesNotThrow(() => {
    buffered.onStdout?.('x', 'a')
    buffered.onCommand?.('c')
    clock.tick(200)
    buffered.onStderr?.('y', 'a')
    buffered.onTruncated?.('m')
    buffered.close()
  })
  t.equal(clock.countTimers(), 0)
})

t.test('the text delivered per key equals the input exactly', async (t) => {
  const { clock, buffered, log } = setup()
  const keys: Array<['stdout' | 'stderr', string | null]> = [['stdout', 'a'], ['stderr', 'a'], ['stdout', 'b'], ['stdout', null], ['stderr', null]]
  const input = new Map<string, string>()
  let seed = 7
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n
  }
  for (let i = 0; i < 2000; i++) {
    const [stream, target] = keys[rand(keys.length)]
    const chunk = `${i}:${'é😀x'.slice(0, rand(4))}\n`.repeat(1 + rand(3))
    const key = `${stream}/${String(target)}`
    input.set(key, (input.get(key) ?? '') + chunk)
    if (stream === 'stdout') buffered.onStdout?.(chunk, target)
    else buffered.onStderr?.(chunk, target)
    if (rand(3) === 0) clock.tick(rand(60))
    if (i === 1500) buffered.flush()
  }
  buffered.close()
  for (const [stream, target] of keys) {
    const key = `${stream}/${String(target)}`
    const delivered = log.filter((d) => d.kind === stream && 'target' in d && d.target === target).map((d) => 'text' in d ? d.text : '').join('')
    t.equal(delivered, input.get(key), `${key}: all text, in order, exactly once`)
  }
  t.equal(clock.countTimers(), 0)
})

t.test('a timer that fires early (as Node\'s may after a busy turn) does not flush inside the window', async (t) => {
  const clock = FakeTimers.createClock()
  // Node schedules from the loop's cached time: model a timer that fires 3 ms before it is due.
  const timers: TimerApi = {
    setTimeout: (fn, ms) => clock.setTimeout(fn, Math.max(0, ms - 3)),
    clearTimeout: (h) => clock.clearTimeout(h as Parameters<typeof clock.clearTimeout>[0]),
    now: () => clock.now
  }
  const at: number[] = []
  const buffered = bufferOutput({ onStdout: () => at.push(clock.now) }, INTERVAL, timers)
  clock.tick(1000)
  buffered.onStdout?.('a', 'web1')
  clock.tick(1)
  buffered.onStdout?.('b', 'web1')
  clock.tick(200)
  t.equal(at.length, 2, 'both delivered')
  t.ok(at[1] - at[0] >= INTERVAL, `the second came ${at[1] - at[0]} ms after the first`)
})
