import { randomUUID } from 'node:crypto'
import { buildBoltInvocation, type BoltArgsOptions, type BoltInvocation, type OperationSpec } from '../bolt/arguments.js'
import type { BoltRunner, RunOutcome } from '../bolt/runner.js'
import {
  CommandNotAllowedError, ExecutionFinishedError, ExecutionNotFoundError, QueueFullError, ShuttingDownError, TaskNotAllowedError, PlanNotAllowedError
} from '../errors.js'
import type { ExecutionStore } from '../store/execution-store.js'
import { withFields, type Logger } from '../logger.js'
import { processIdentity } from '../bolt/process-group.js'
import type { StreamManager } from '../streaming/stream-manager.js'
import type { ExecutionError, ExecutionRecord, ExecutionStatus, TargetResult } from '../../schemas/index.js'
import type { StreamingCallback } from '../streaming/streaming-callback.js'
import { requestOf } from './rerun.js'
import type { QueuedJob, SharedWork, SharedWorkHandlers } from '../cluster/shared-work.js'
import { interrupt } from './reconcile.js'
import { isFinished } from './status.js'

export interface ExecutionServiceOptions {
  store: ExecutionStore
  manager: StreamManager
  runner: BoltRunner
  args: BoltArgsOptions
  timeoutMs: number
  maxOutputBytes: number
  /** Executions running at once; the rest wait, first come first served. */
  maxConcurrent: number
  /** Executions waiting at most; beyond, create() throws QueueFullError. */
  maxQueued: number
  /** Operator policies: what commands and tasks may run (null: anything valid). */
  commandAllowlist?: RegExp | null
  taskAllowlist?: RegExp | null
  planAllowlist?: RegExp | null
  logger: Logger
  /** Told of every execution accepted and ended (the metrics). */
  observer?: ExecutionObserver
  /**
   * STORE=redis: the replicas share the queue (executions beyond a free local slot wait there,
   * MAX_QUEUED_EXECUTIONS for the cluster), cancel requests and leases.
   */
  shared?: SharedWork
  /** The streaming callbacks of an expert-mode execution this replica takes from the shared queue. */
  callbacksFor?: (id: string) => Callbacks
  /** SIGTERM → SIGKILL delay for a Bolt group a dead replica left on this machine. */
  killGraceMs?: number
}

/** What the metrics learn of executions, once per execution. */
export interface ExecutionObserver {
  accepted: (type: ExecutionRecord['type']) => void
  ended: (type: ExecutionRecord['type'], status: ExecutionStatus, seconds: number) => void
}

export interface Execution {
  record: ExecutionRecord
  invocation: BoltInvocation
  /** Waits on the shared queue: whichever replica takes it runs it. */
  shared?: boolean
}

interface Running {
  controller: AbortController
  done: Promise<void>
}

type Callbacks = StreamingCallback & { close?: () => void }

interface Waiting {
  execution: Execution
  callbacks?: Callbacks
  /** run() has been called: it may start. */
  ready: boolean
}

/** Who asked, and how: kept in the record. */
export interface CreateOptions {
  expertMode: boolean
  /** The API token's name; null in open mode. */
  requestedBy?: string | null
  /** The execution this one re-runs. */
  rerunOf?: string | null
}

export const SHUTDOWN_REASON = 'Cancelled: the service is shutting down'

const identity = processIdentity()

/** Starts Bolt runs, follows them to their end, and keeps their record and event log. */
export class ExecutionService {
  private readonly running = new Map<string, Running>()
  /** Admitted to run: spawned, or about to be. */
  private active = 0
  private readonly waiting: Waiting[] = []
  private draining = false
  /** Bolt runs that could not be spawned, since start. */
  spawnFailures = 0

  constructor (private readonly options: ExecutionServiceOptions) {}

  get isDraining (): boolean {
    return this.draining
  }

  get runningCount (): number {
    return this.running.size
  }

  get queuedCount (): number {
    return this.waiting.length
  }

  /** Executions waiting for a slot: this replica's, or the cluster's when work is shared (STORE=redis). */
  async queuedEverywhere (): Promise<number> {
    const { shared } = this.options
    return shared === undefined ? this.waiting.length : shared.queuedCount()
  }

  /** The record of an execution; throws ExecutionNotFoundError when there is none. */
  async record (id: string): Promise<ExecutionRecord> {
    const record = await this.options.store.get(id)
    if (record === undefined) throw new ExecutionNotFoundError(id)
    return record
  }

  /**
   * Validates the operation and records a new execution, `running` when a slot is free, else
   * `queued` (nothing is spawned yet); throws QueueFullError when the queue is full too.
   */
  async create (spec: OperationSpec, options: CreateOptions): Promise<Execution> {
    const { expertMode, requestedBy = null, rerunOf = null } = options
    if (this.draining) throw new ShuttingDownError()
    const invocation = buildBoltInvocation(spec, this.options.args)
    this.checkPolicy(spec)
    const { shared } = this.options
    const admitted = this.active < this.options.maxConcurrent
    if (!admitted && shared === undefined && this.waiting.length >= this.options.maxQueued) throw new QueueFullError(this.active, this.waiting.length)
    // The slot is taken now, before any await, so concurrent requests cannot overbook it.
    if (admitted) this.active++
    const record: ExecutionRecord = {
      id: randomUUID(),
      type: invocation.type,
      targets: [...spec.targets],
      action: invocation.action,
      status: admitted ? 'running' : 'queued',
      startedAt: new Date().toISOString(),
      completedAt: null,
      expertMode,
      command: expertMode ? invocation.display : null,
      results: [],
      error: null,
      outputTruncated: false,
      requestedBy,
      request: requestOf(spec),
      rerunOf
    }
    const execution: Execution = { record, invocation }
    if (!admitted && shared !== undefined) return this.enqueueShared(shared, execution, { spec, expertMode })
    if (!admitted) this.waiting.push({ execution, ready: false })
    try {
      // The lease before the record: no replica may find it running without one.
      if (shared !== undefined) await shared.hold(record.id)
      await this.options.store.create(record)
    } catch (err) {
      if (admitted) this.active--
      else this.waiting.splice(this.waiting.findIndex((w) => w.execution === execution), 1)
      if (shared !== undefined) await shared.release(record.id)
      throw err
    }
    this.options.manager.open(record.id)
    this.options.manager.append(record.id, 'status', { status: record.status })
    this.options.observer?.accepted(record.type)
    return execution
  }

  /** Records a queued execution on the shared queue, with its `queued` event; 429 when the cluster's queue is full. */
  private async enqueueShared (shared: SharedWork, execution: Execution, job: QueuedJob): Promise<Execution> {
    const { record } = execution
    const queued = { type: 'status' as const, executionId: record.id, timestamp: record.startedAt, seq: 1, data: { status: 'queued' } }
    if (!await shared.enqueue(record, job, queued)) {
      throw new QueueFullError(this.active, await shared.queuedCount().catch(() => this.options.maxQueued))
    }
    return { ...execution, shared: true }
  }

  /** What the shared queue needs of this replica. */
  sharedHandlers (): SharedWorkHandlers {
    return {
      hasFreeSlot: () => !this.draining && this.active < this.options.maxConcurrent,
      reserveSlot: () => {
        if (this.draining || this.active >= this.options.maxConcurrent) return false
        this.active++
        return true
      },
      releaseSlot: () => { this.active-- },
      take: (id, job) => { void this.takeShared(id, job) },
      cancel: (id, reason) => { this.running.get(id)?.controller.abort(reason) },
      orphan: async (id) => {
        const found = (await this.options.store.listUnfinished()).find((u) => u.record.id === id)
        if (found === undefined) return
        await interrupt(this.options.store, found, { killGraceMs: this.options.killGraceMs ?? 5000, logger: this.options.logger },
          'execution interrupted: the replica running it stopped renewing its lease')
      }
    }
  }

  /** Runs an execution taken from the shared queue (its slot reserved and its lease held). */
  private async takeShared (id: string, job: QueuedJob): Promise<void> {
    const { store, manager, shared } = this.options
    let started = false
    try {
      const invocation = buildBoltInvocation(job.spec, this.options.args)
      const record = await store.get(id)
      if (record === undefined) throw new ExecutionNotFoundError(id)
      manager.open(id, await store.lastSeq(id))
      record.status = 'running'
      await store.update(id, { status: 'running' })
      manager.append(id, 'status', { status: 'running' })
      this.start({ record, invocation }, job.expertMode ? this.options.callbacksFor?.(id) : undefined)
      started = true
      this.options.logger.info({ executionId: id }, 'took a queued execution')
      // A cancel sent while it changed hands.
      const reason = await shared!.pendingCancel(id)
      if (reason !== null) this.running.get(id)?.controller.abort(reason)
    } catch (err) {
      if (started) return
      this.options.logger.error({ err, executionId: id }, 'could not start a queued execution')
      this.active--
      await shared!.release(id)
      shared!.slotFreed()
    }
  }

  private checkPolicy (spec: OperationSpec): void {
    const { commandAllowlist, taskAllowlist, planAllowlist } = this.options
    if (spec.type === 'plan' && planAllowlist != null && !planAllowlist.test(spec.plan)) throw new PlanNotAllowedError(spec.plan)
    if (spec.type === 'command' && commandAllowlist != null && !commandAllowlist.test(spec.command)) throw new CommandNotAllowedError()
    // A package operation is the `package` task, so the task policy decides it too.
    const task = spec.type === 'task' ? spec.task : spec.type === 'package' ? 'package' : null
    if (task !== null && taskAllowlist != null && !taskAllowlist.test(task)) throw new TaskNotAllowedError(task)
  }

  /**
   * Runs the execution in the background (a queued one when its turn comes), reporting to
   * `callbacks` (output is only streamed when given).
   */
  run (execution: Execution, callbacks?: Callbacks): void {
    // Whichever replica takes it from the shared queue runs it.
    if (execution.shared === true) return
    const waiting = this.waiting.find((w) => w.execution === execution)
    if (waiting !== undefined) {
      waiting.callbacks = callbacks
      waiting.ready = true
      this.pump()
      return
    }
    this.start(execution, callbacks)
  }

  /** Starts waiting executions, in order, while slots are free. */
  private pump (): void {
    while (!this.draining && this.active < this.options.maxConcurrent && this.waiting[0]?.ready === true) {
      const next = this.waiting.shift()!
      this.active++
      const { record } = next.execution
      record.status = 'running'
      this.options.store.update(record.id, { status: 'running' }).catch((err: unknown) => {
        this.options.logger.error({ err, executionId: record.id }, 'could not record the start of a queued execution')
      })
      this.options.manager.append(record.id, 'status', { status: 'running' })
      this.start(next.execution, next.callbacks)
    }
  }

  private start (execution: Execution, callbacks?: Callbacks): void {
    const { record, invocation } = execution
    const controller = new AbortController()
    const done = (async () => {
      callbacks?.onCommand?.(invocation.display)
      const outcome = await this.options.runner.run({
        invocation,
        timeoutMs: this.options.timeoutMs,
        maxOutputBytes: this.options.maxOutputBytes,
        signal: controller.signal,
        callbacks,
        logger: withFields(this.options.logger, { executionId: record.id }),
        // Recorded so that a restart after a crash can end the group this run leaves behind.
        onSpawn: (pgid) => {
          this.options.store.setProcessGroup(record.id, { pgid, ...identity }).catch((err: unknown) => {
            this.options.logger.error({ err, executionId: record.id }, 'could not record the Bolt process group')
          })
        }
      })
      // Everything held back by the buffering hook goes out before the terminal event.
      if (callbacks?.close !== undefined) callbacks.close()
      else callbacks?.flush?.()
      await this.finish(record, outcome)
    })().catch(async (err: unknown) => {
      this.options.logger.error({ err, executionId: record.id }, 'execution failed unexpectedly')
      const error = { kind: 'bolt-stream/internal-error', message: 'The execution failed because of an internal error' }
      await this.conclude(record, { status: 'failed', error }).catch(() => {})
    }).finally(async () => {
      this.running.delete(record.id)
      this.active--
      this.pump()
      const { shared } = this.options
      if (shared !== undefined) {
        shared.slotFreed()
        await shared.release(record.id)
      }
    })
    this.running.set(record.id, { controller, done })
  }

  /** Ends a queued execution that never started. */
  private async endWaiting (waiting: Waiting, reason: string): Promise<void> {
    waiting.callbacks?.close?.()
    await this.conclude(waiting.execution.record, { status: 'cancelled', error: { kind: 'bolt-stream/cancelled', message: reason } })
  }

  private async finish (record: ExecutionRecord, outcome: RunOutcome): Promise<void> {
    const { status, error, results } = decideOutcome(outcome)
    if (outcome.end === 'spawn-failed') this.spawnFailures++
    this.options.logger.info({ executionId: record.id, status, exitCode: outcome.exitCode }, 'execution finished')
    await this.conclude(record, { status, error, results, outputTruncated: outcome.outputTruncated, plan: outcome.document.plan })
  }

  /**
   * The one way an execution ends: its final `status` event, then exactly one terminal event
   * (`complete` when Bolt produced results, else `error`). The record turns final once the
   * terminal event is stored, before anyone is sent it.
   */
  private async conclude (record: ExecutionRecord, end: {
    status: ExecutionStatus
    error: ExecutionError | null
    results?: TargetResult[]
    outputTruncated?: boolean
    /** A plan's return value (only on success). */
    plan?: { result?: unknown, resultTruncated?: true }
  }): Promise<void> {
    const { store, manager, observer } = this.options
    const { id } = record
    const { status, error, results = [], outputTruncated = false } = end
    const returned = error === null ? end.plan ?? {} : {}
    const completedAt = new Date().toISOString()
    const finalRecord = async (): Promise<void> => {
      await store.update(id, { status, completedAt, error, ...(end.results !== undefined ? { results } : {}), outputTruncated, ...returned })
      await store.setProcessGroup(id, null)
    }
    // Its terminal event already went out (a failure after it): only the record is left to fix.
    if (!manager.isLive(id) || manager.terminalSeq(id) !== null) return finalRecord()
    observer?.ended(record.type, status, Math.max(0, Date.parse(completedAt) - Date.parse(record.startedAt)) / 1000)
    manager.append(id, 'status', { status })
    if (error === null) await manager.terminate(id, 'complete', { status, results, outputTruncated, ...returned }, finalRecord)
    else await manager.terminate(id, 'error', { status, error }, finalRecord)
  }

  /**
   * Cancels an execution. A queued one ends at once (the record returned is final); a running one
   * says `cancelled` once Bolt has exited (the record returned is still `running`).
   */
  async cancel (id: string, reason = 'Cancelled by request'): Promise<ExecutionRecord> {
    const record = await this.options.store.get(id)
    if (record === undefined) throw new ExecutionNotFoundError(id)
    const index = this.waiting.findIndex((w) => w.execution.record.id === id)
    if (index !== -1) {
      // Never started: it ends now, without a Bolt process, and the answer says how it ended.
      const [waiting] = this.waiting.splice(index, 1)
      await this.endWaiting(waiting, reason)
      return (await this.options.store.get(id)) ?? record
    }
    const run = this.running.get(id)
    if (run !== undefined && record.status === 'running') {
      run.controller.abort(reason)
      return record
    }
    const { shared } = this.options
    if (shared === undefined || isFinished(record.status)) throw new ExecutionFinishedError(id, record.status)
    // Under a lease while it ends, so no replica takes it for orphaned meanwhile.
    if (record.status === 'queued' && await shared.holdIfFree(id)) {
      try {
        if (await shared.claim(id)) {
          // Off the shared queue before anyone took it: it ends here, without a Bolt process.
          this.options.manager.open(id, await this.options.store.lastSeq(id))
          await this.conclude(record, { status: 'cancelled', error: { kind: 'bolt-stream/cancelled', message: reason } })
          return (await this.options.store.get(id)) ?? record
        }
      } finally {
        await shared.release(id)
      }
    }
    // Running on another replica (or being taken by one): it cancels it.
    await shared.requestCancel(id, reason)
    return record
  }

  /** Waits for running executions until `graceMs`; cancels what is still running; resolves when all ended. */
  async drain (graceMs: number): Promise<void> {
    this.draining = true
    // Queued executions never start during a shutdown.
    const queued = this.waiting.splice(0)
    await Promise.allSettled(queued.map((w) => this.endWaiting(w, SHUTDOWN_REASON)))
    if (this.running.size > 0 && graceMs > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.allSettled([...this.running.values()].map((r) => r.done)),
        new Promise((resolve) => { timer = setTimeout(resolve, graceMs) })
      ])
      clearTimeout(timer)
    }
    const left = [...this.running.values()]
    for (const run of left) run.controller.abort(SHUTDOWN_REASON)
    await Promise.allSettled(left.map((r) => r.done))
  }
}

export function decideOutcome (outcome: RunOutcome): { status: ExecutionStatus, error: ExecutionError | null, results: TargetResult[] } {
  const { document: doc } = outcome
  const results = doc.results
  switch (outcome.end) {
    case 'spawn-failed':
      return { status: 'failed', error: outcome.spawnError ?? { kind: 'bolt-stream/spawn-failed', message: 'Bolt could not be started' }, results }
    case 'timed_out':
      return { status: 'timed_out', error: { kind: 'bolt-stream/timeout', message: outcome.cancelReason ?? 'Timed out' }, results }
    case 'cancelled':
      return { status: 'cancelled', error: { kind: 'bolt-stream/cancelled', message: outcome.cancelReason ?? 'Cancelled' }, results }
    case 'exited':
  }
  if (doc.error !== null) {
    let message = doc.error.message
    if (doc.error.kind === 'bolt-stream/no-output' || doc.error.kind === 'bolt-stream/truncated-document') {
      const how = outcome.signal !== null ? `killed by ${outcome.signal}` : `exit code ${String(outcome.exitCode)}`
      message += ` (${how})`
      const tail = outcome.stderrTail.trim()
      if (tail.length > 0) message += `; Bolt's stderr ends with: ${tail.slice(-1000)}`
    }
    return { status: 'failed', error: { ...doc.error, message }, results }
  }
  // A plan that ended well returned something other than results (a hash, a string, nothing).
  if (results.length === 0 && doc.plan !== undefined) return { status: 'success', error: null, results }
  if (results.length === 0) {
    return { status: 'failed', error: { kind: 'bolt-stream/no-results', message: 'Bolt reported no results' }, results }
  }
  const ok = results.filter((r) => r.status === 'success').length
  const status: ExecutionStatus = ok === results.length ? 'success' : ok === 0 ? 'failed' : 'partial'
  return { status, error: null, results }
}
