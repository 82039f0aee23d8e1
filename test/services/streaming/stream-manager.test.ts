import t from 'tap'
import { MemoryStore } from '../../../services/store/memory-store.js'
import { eventFrame } from '../../../services/streaming/sse-frames.js'
import { StreamManager, type SubscriberSink } from '../../../services/streaming/stream-manager.js'
import type { ExecutionEvent, ExecutionRecord } from '../../../schemas/index.js'
import { makeRecord, until } from '../../helper.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function record (id: string): ExecutionRecord {
  return makeRecord(id, { targets: ['a'], action: 'echo', startedAt: new Date().toISOString(), expertMode: true })
}

/** A store whose reads and writes take a random while, so appends and replays interleave. */
class SlowStore extends MemoryStore {
  constructor (private readonly maxDelayMs: number) {
    super({ maxExecutions: 100, maxBytes: 1e9 })
  }

  override async appendEvents (id: string, events: readonly ExecutionEvent[]): Promise<void> {
    await sleep(Math.random() * this.maxDelayMs)
    return super.appendEvents(id, events)
  }

  override async readEvents (id: string, after: number, limit: number): Promise<ExecutionEvent[]> {
    await sleep(Math.random() * this.maxDelayMs)
    return super.readEvents(id, after, limit)
  }
}

class TestSink implements SubscriberSink {
  frames: string[] = []
  closed = false
  ended = false
  constructor (private readonly onWrite?: (frame: string) => boolean) {}
  write (frames: string | Buffer): boolean {
    const frame = frames.toString()
    if (this.closed) throw new Error('write after close')
    if (this.onWrite !== undefined && !this.onWrite(frame)) {
      this.closed = true
      return false
    }
    this.frames.push(frame)
    return true
  }

  fits (_bytes: number): boolean { return !this.closed }
  async send (data: Buffer, _stallTimeoutMs: number): Promise<boolean> { return this.write(data) }
  abort (): void { this.closed = true }
  end (): void {
    this.ended = true
    this.closed = true
  }

  /** The seq of every event received, in order. */
  seqs (): number[] {
    return this.frames.join('').split('\n').filter((l) => l.startsWith('id: ')).map((l) => Number(l.slice(4)))
  }
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)

t.test('events get consecutive seqs; a subscriber from 0 gets each once, then the stream ends', async (t) => {
  const store = new MemoryStore({ maxExecutions: 10, maxBytes: 1e9 })
  const manager = new StreamManager(store)
  await store.create(record('x'))
  manager.open('x')
  const sink = new TestSink()
  await manager.subscribe('x', 0, sink)
  const cb = manager.callbacksFor('x')
  for (let i = 0; i < 50; i++) cb.onStdout?.(`line ${i}\n`, 'a')
  await manager.terminate('x', 'complete', { status: 'success' })
  t.same(sink.seqs(), range(1, 51))
  t.ok(sink.ended, 'ended after the terminal event')
  t.equal(await store.lastSeq('x'), 51)
  const last = await store.readEvents('x', 50, 10)
  t.equal(last[0].type, 'complete')
  t.same(manager.stats(), { liveExecutions: 0, liveSubscribers: 0 })
})

t.test('late joiners of a finished execution get exactly the events after their cursor', async (t) => {
  const store = new MemoryStore({ maxExecutions: 10, maxBytes: 1e9 })
  const manager = new StreamManager(store, { replayPageSize: 7 })
  await store.create(record('y'))
  manager.open('y')
  for (let i = 0; i < 30; i++) manager.append('y', 'stdout', { target: 'a', output: `${i}\n` })
  await manager.terminate('y', 'error', { status: 'cancelled' })
  // As the execution service does next: the record turns final (a reader past the last event
  // would otherwise wait on the store's tail for more).
  await store.update('y', { status: 'cancelled', completedAt: new Date().toISOString() })
  for (const after of [0, 1, 6, 7, 8, 29, 30]) {
    const sink = new TestSink()
    await manager.subscribe('y', after, sink)
    t.same(sink.seqs(), range(after + 1, 31), `after ${after}`)
    t.ok(sink.ended)
  }
})

t.test('concurrent appends and joins: no gap, no duplicate, for every subscriber', async (t) => {
  const store = new SlowStore(3)
  const manager = new StreamManager(store, { replayPageSize: 5 })
  await store.create(record('z'))
  manager.open('z')
  const cb = manager.callbacksFor('z')
  const subscribers: Array<{ after: number, sink: TestSink }> = []
  const joins: Promise<void>[] = []
  let appended = 0
  for (let round = 0; round < 40; round++) {
    const burst = 1 + Math.floor(Math.random() * 4)
    for (let i = 0; i < burst; i++) {
      cb.onStdout?.(`r${round} ${i}\n`, 'a')
      appended++
    }
    // Join with any cursor the client could have seen (up to what was assigned).
    const after = Math.floor(Math.random() * (manager.lastAssignedSeq('z') ?? 0))
    const sink = new TestSink()
    subscribers.push({ after, sink })
    joins.push(manager.subscribe('z', after, sink))
    await sleep(Math.random() * 4)
  }
  await manager.terminate('z', 'complete', { status: 'success' })
  await Promise.all(joins)
  // Subscribers still catching up finish from the store.
  for (let i = 0; i < 100 && subscribers.some((s) => !s.sink.ended); i++) await sleep(10)
  const total = appended + 1
  for (const { after, sink } of subscribers) {
    t.same(sink.seqs(), range(after + 1, total), `subscriber after ${after}`)
    t.ok(sink.ended, `subscriber after ${after} ended`)
  }
})

t.test('an event is persisted before any subscriber is sent it', async (t) => {
  const store = new SlowStore(5)
  const manager = new StreamManager(store)
  await store.create(record('p'))
  manager.open('p')
  const violations: number[] = []
  const pending: Promise<void>[] = []
  const sink = new TestSink((frame) => {
    const seq = Number(/^id: (\d+)/.exec(frame)?.[1])
    pending.push(store.lastSeq('p').then((persisted) => { if (persisted < seq) violations.push(seq) }))
    return true
  })
  await manager.subscribe('p', 0, sink)
  for (let i = 0; i < 20; i++) {
    manager.append('p', 'stdout', { target: 'a', output: 'x\n' })
    await sleep(1)
  }
  await manager.terminate('p', 'complete', {})
  await Promise.all(pending)
  t.same(violations, [])
  t.equal(sink.seqs().length, 21)
})

t.test('a subscriber that cannot keep up is dropped and written no more; others go on', async (t) => {
  const store = new MemoryStore({ maxExecutions: 10, maxBytes: 1e9 })
  const manager = new StreamManager(store)
  await store.create(record('s'))
  manager.open('s')
  let writes = 0
  const slow = new TestSink(() => ++writes <= 2)
  const fast = new TestSink()
  await manager.subscribe('s', 0, slow)
  await manager.subscribe('s', 0, fast)
  for (let i = 0; i < 5; i++) {
    manager.append('s', 'stdout', { target: 'a', output: `${i}\n` })
    // One batch, so one write, per event.
    await until(() => fast.seqs().length === i + 1, 5000, `event ${i + 1} is delivered`)
  }
  t.equal(manager.stats().liveSubscribers, 1)
  await manager.terminate('s', 'complete', {})
  t.equal(slow.frames.length, 2)
  t.same(fast.seqs(), range(1, 6))
})

t.test('a closed subscriber is unsubscribed and receives nothing more', async (t) => {
  const store = new MemoryStore({ maxExecutions: 10, maxBytes: 1e9 })
  const manager = new StreamManager(store)
  await store.create(record('c'))
  manager.open('c')
  const sink = new TestSink()
  await manager.subscribe('c', 0, sink)
  manager.append('c', 'stdout', { target: 'a', output: '1\n' })
  await until(() => sink.seqs().length === 1, 5000, 'the first event is delivered')
  sink.closed = true
  manager.unsubscribe('c', sink)
  t.equal(manager.stats().liveSubscribers, 0)
  manager.append('c', 'stdout', { target: 'a', output: '2\n' })
  await manager.terminate('c', 'complete', {})
  t.same(sink.seqs(), [1])
})

t.test('frames: one JSON data line, integer id, cached per event', async (t) => {
  const event: ExecutionEvent = {
    type: 'stdout', executionId: 'e', timestamp: 'now', seq: 7, data: { target: 'a', output: 'a\r\nb\rc\nevent: x\n\nid: 9\u0000' }
  }
  const frame = eventFrame(event)
  t.equal(frame, eventFrame(event), 'same text for the same event')
  const lines = frame.split(/\r\n|\r|\n/)
  t.same(lines.slice(0, 3).map((l) => l.split(':')[0]), ['id', 'event', 'data'])
  t.equal(lines[0], 'id: 7')
  t.equal(lines[1], 'event: stdout')
  t.same(lines.slice(3), ['', ''], 'nothing after the data line but the blank line')
  t.same(JSON.parse(lines[2].slice(6)), event)
})

t.test('output reported after the terminal event is dropped', async (t) => {
  const store = new MemoryStore({ maxExecutions: 10, maxBytes: 1e9 })
  const manager = new StreamManager(store)
  await store.create(record('d'))
  manager.open('d')
  const cb = manager.callbacksFor('d')
  cb.onStdout?.('before\n', 'a')
  const done = manager.terminate('d', 'complete', {})
  cb.onStdout?.('after\n', 'a')
  await done
  t.equal(await store.lastSeq('d'), 2)
  t.throws(() => manager.append('d', 'stdout', {}), /no live channel/)
})

t.test('an execution run by another process is followed through the store tail', async (t) => {
  // Two managers on one store: what a second replica on a shared store would see.
  const store = new MemoryStore({ maxExecutions: 10, maxBytes: 1e9 })
  const owner = new StreamManager(store)
  const other = new StreamManager(store)
  await store.create(record('r'))
  owner.open('r')
  owner.append('r', 'status', { status: 'running' })
  await sleep(5)
  const sink = new TestSink()
  const following = other.subscribe('r', 0, sink)
  for (let i = 0; i < 10; i++) {
    owner.append('r', 'stdout', { target: 'a', output: `${i}\n` })
    await sleep(15)
  }
  await until(() => sink.seqs().length >= 5, 5000, 'events arrive while the execution runs elsewhere')
  t.ok(sink.seqs().length >= 5, 'events arrive while the execution runs elsewhere')
  await store.update('r', { status: 'success' })
  await owner.terminate('r', 'complete', { status: 'success' })
  await following
  t.same(sink.seqs(), range(1, 12))
  t.ok(sink.ended)
})

/** A sink whose connection backs up on demand, like a socket whose reader pauses. */
class BackloggedSink extends TestSink {
  blocked = false
  aborted = false
  private wake: (() => void) | null = null
  override fits (bytes: number): boolean { return !this.blocked && super.fits(bytes) }
  override async send (data: Buffer, stallTimeoutMs: number): Promise<boolean> {
    if (this.blocked) {
      const taken = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), stallTimeoutMs)
        this.wake = () => { clearTimeout(timer); resolve(true) }
      })
      if (!taken) return false
    }
    return super.send(data, stallTimeoutMs)
  }

  unblock (): void {
    this.blocked = false
    this.wake?.()
  }

  override abort (): void {
    this.aborted = true
    this.closed = true
  }
}

t.test('a backlogged subscriber is fed from the store once it drains, missing nothing', async (t) => {
  const store = new MemoryStore({ maxExecutions: 10, maxBytes: 1e9 })
  const manager = new StreamManager(store, { stallTimeoutMs: 5000 })
  await store.create(record('b'))
  manager.open('b')
  const sink = new BackloggedSink()
  await manager.subscribe('b', 0, sink)
  manager.append('b', 'stdout', { target: 'a', output: '1\n' })
  await until(() => sink.seqs().length === 1, 5000, 'the first event is delivered')
  sink.blocked = true
  for (let i = 2; i <= 20; i++) {
    manager.append('b', 'stdout', { target: 'a', output: `${i}\n` })
    await sleep(1)
  }
  t.same(sink.seqs(), [1], 'nothing is pushed while it is backed up')
  sink.unblock()
  await until(() => sink.seqs().length >= 20, 5000, 'it has caught up')
  t.same(sink.seqs(), range(1, 20), 'caught up from the store')
  manager.append('b', 'stdout', { target: 'a', output: '21\n' })
  await manager.terminate('b', 'complete', {})
  t.same(sink.seqs(), range(1, 22), 'live again afterwards')
  t.ok(sink.ended)
})

t.test('a subscriber that does not drain within the stall timeout is dropped', async (t) => {
  const store = new MemoryStore({ maxExecutions: 10, maxBytes: 1e9 })
  const manager = new StreamManager(store, { stallTimeoutMs: 100 })
  await store.create(record('q'))
  manager.open('q')
  const sink = new BackloggedSink()
  await manager.subscribe('q', 0, sink)
  sink.blocked = true
  const blockedAt = performance.now()
  manager.append('q', 'stdout', { target: 'a', output: '1\n' })
  await until(() => sink.aborted, 5000, 'it is dropped')
  // Timers may fire a millisecond or two early on Node's cached loop clock.
  t.ok(performance.now() - blockedAt >= 95, 'not before the timeout')
  t.ok(sink.aborted, 'dropped after it')
  t.equal(manager.stats().liveSubscribers, 0)
  await manager.terminate('q', 'complete', {})
})

t.test('subscribers without expert get the public view, live and from the store, with the same ids', async (t) => {
  const store = new SlowStore(3)
  const manager = new StreamManager(store, { replayPageSize: 7 })
  await store.create(record('v'))
  manager.open('v')
  const expert = new TestSink()
  const reader = new TestSink()
  await manager.subscribe('v', 0, expert)
  await manager.subscribe('v', 0, reader, { expert: false })
  const cb = manager.callbacksFor('v')
  cb.onCommand?.('bolt command run secret-command')
  manager.append('v', 'status', { status: 'running' })
  for (let i = 0; i < 40; i++) {
    cb.onStdout?.(`secret-out ${i}\n`, 'a')
    if (i % 10 === 0) manager.append('v', 'status', { status: 'running', note: i })
    if (i % 7 === 0) await sleep(2)
  }
  // A reader joining late catches up from the store, then goes live.
  const lateReader = new TestSink()
  const joining = manager.subscribe('v', 0, lateReader, { expert: false })
  cb.onStderr?.('secret-err\n', 'a')
  await joining
  await manager.terminate('v', 'complete', { status: 'success', results: [{ target: 'a', status: 'success', exitCode: 0, stdout: 'secret-out' }] })
  const all = await store.readEvents('v', 0, 1000)
  const visible = all.filter((e) => !['command', 'stdout', 'stderr'].includes(e.type)).map((e) => e.seq)
  t.same(expert.seqs(), all.map((e) => e.seq), 'an expert gets every event')
  t.same(reader.seqs(), visible, 'a reader gets the visible events, in order, once')
  t.same(lateReader.seqs(), visible, 'so does a late reader catching up from the store')
  for (const sink of [reader, lateReader]) {
    t.notMatch(sink.frames.join(''), /secret/, 'no command, output or raw results')
    t.match(sink.frames.join(''), /"exitCode":0/, 'the results without their output')
    t.ok(sink.ended)
  }
  t.match(expert.frames.join(''), /secret-command/)
})
