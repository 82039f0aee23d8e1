import { spawn, type ChildProcessByStdio } from 'node:child_process'
import type { Readable } from 'node:stream'
import type { ExecutionError } from '../../schemas/index.js'
import { BoltDocumentParser, BoltStdoutDemux, type DocumentParser } from './output-parser.js'
import { PlanDocumentParser } from './plan-document.js'
import { OutputBudget } from './output-limit.js'
import { groupHasLiveProcess, signalGroup } from './process-group.js'
import { applyResultBudget } from './result-budget.js'
import type { BoltRunnerOptions, RunEnd, RunOutcome, RunRequest } from './runner.js'
import { StderrLines } from './stderr-lines.js'
import type { Logger } from '../logger.js'

/** After Bolt exits, how long a leftover process may hold its pipes open. */
const PIPE_CLOSE_WAIT_MS = 2000
/** How often a terminated run looks whether its process group is gone. */
const GROUP_POLL_MS = 50
/** After SIGKILL, how long a group may take to vanish (a process we may not signal stays). */
const KILLED_GROUP_WAIT_MS = 5000

export const truncationMessage = (maxBytes: number): string =>
  `[output truncated: this execution reached its limit of ${maxBytes} bytes; further output is neither streamed nor kept]`

/**
 * One Bolt process, from spawn to outcome: its output routed to the streaming callbacks within
 * the byte budget, its result document parsed, its process group ended on timeout or cancel.
 * It settles once Bolt has exited and, when it was terminated, nothing of its group runs.
 */
export class BoltRun {
  private readonly budget: OutputBudget
  /** A task's stderr per target as streamed: Bolt's document does not keep it. */
  private readonly liveStderr = new Map<string, string>()
  private readonly document: DocumentParser
  private readonly stderr: StderrLines
  private truncatedNotified = false
  private settled = false
  private end: RunEnd = 'exited'
  private cancelReason: string | undefined
  private spawnError: ExecutionError | undefined
  private exitCode: number | null = null
  private exitSignal: NodeJS.Signals | null = null
  private timeoutTimer: NodeJS.Timeout | undefined
  private killTimer: NodeJS.Timeout | undefined
  private pipeTimer: NodeJS.Timeout | undefined
  private closed = false
  /** Bolt exited but something else held its pipes too long: they were closed on our side. */
  private pipesGivenUp = false
  private checkingGroup = false
  private groupTimer: NodeJS.Timeout | undefined
  private killedAt: number | undefined
  private child: ChildProcessByStdio<null, Readable, Readable> | undefined
  private pgid: number | undefined
  /** The request's logger (which names the execution), else the runner's. */
  private readonly logger: Logger

  constructor (
    private readonly options: BoltRunnerOptions,
    private readonly request: RunRequest,
    private readonly resolve: (outcome: RunOutcome) => void
  ) {
    this.logger = request.logger ?? options.logger
    this.budget = new OutputBudget(request.maxOutputBytes)
    // Strings inside one result line are bounded too; the results are cut to the budget later.
    const { type } = request.invocation
    const maxStringChars = request.maxOutputBytes + 1024
    this.document = type === 'plan'
      ? new PlanDocumentParser({ maxStringChars, maxResultChars: request.maxOutputBytes })
      : new BoltDocumentParser({ type, maxStringChars })
    this.stderr = new StderrLines(
      (line) => this.emit('stderr', null, line),
      (line) => this.logger.debug({ line }, 'bolt stderr'))
  }

  start (): void {
    const child = spawn(this.options.boltPath, this.request.invocation.args, {
      detached: true, // its own process group
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.options.env
    })
    this.child = child
    this.pgid = child.pid
    child.once('error', (err: NodeJS.ErrnoException) => this.onError(err))
    if (this.pgid === undefined) return
    this.request.onSpawn?.(this.pgid)
    const { signal } = this.request
    if (signal?.aborted === true) queueMicrotask(this.onAbort)
    else signal?.addEventListener('abort', this.onAbort, { once: true })
    this.timeoutTimer = setTimeout(() => this.terminate('timed_out', `Timed out after ${this.request.timeoutMs} ms`), this.request.timeoutMs)
    this.timeoutTimer.unref()
    this.readStdout(child.stdout)
    child.stderr.on('data', (chunk: Buffer) => this.stderr.push(chunk))
    child.stderr.once('end', () => this.stderr.end())
    child.once('exit', (code, exitSignal) => this.onExit(code, exitSignal))
    child.once('close', () => this.onClose())
  }

  private emit (stream: 'stdout' | 'stderr', target: string | null, text: string): void {
    const { callbacks, invocation } = this.request
    const { text: kept, crossed } = this.budget.take(text)
    if (kept.length > 0) {
      // Bolt's document has every text but a task's stderr; that one is kept from the stream.
      if (target !== null && stream === 'stderr' && (invocation.type === 'task' || invocation.type === 'package')) {
        this.liveStderr.set(target, (this.liveStderr.get(target) ?? '') + kept)
      }
      if (stream === 'stdout') callbacks?.onStdout?.(kept, target)
      else callbacks?.onStderr?.(kept, target)
    }
    if (crossed && !this.truncatedNotified) {
      this.truncatedNotified = true
      callbacks?.flush?.()
      callbacks?.onTruncated?.(truncationMessage(this.request.maxOutputBytes))
    }
  }

  private readStdout (stdout: Readable): void {
    const sink = { output: (stream: 'stdout' | 'stderr', target: string, text: string) => this.emit(stream, target, text) }
    const demux = new BoltStdoutDemux(sink, this.document, this.request.invocation.type === 'plan')
    // Bytes, not text: a stream line may end inside a character that the next one finishes.
    stdout.on('data', (chunk: Buffer) => demux.push(chunk))
    stdout.once('end', () => demux.end())
  }

  private readonly onAbort = (): void => {
    const reason: unknown = this.request.signal?.reason
    this.terminate('cancelled', typeof reason === 'string' ? reason : 'Cancelled')
  }

  private onError (err: NodeJS.ErrnoException): void {
    if (this.pgid !== undefined) {
      this.logger.warn({ err }, 'Bolt process error')
      return
    }
    this.end = 'spawn-failed'
    this.spawnError = err.code === 'ENOENT'
      ? { kind: 'bolt-stream/bolt-not-found', message: `Bolt executable '${this.options.boltPath}' was not found; set BOLT_PATH` }
      : { kind: 'bolt-stream/spawn-failed', message: `Bolt could not be started: ${err.message}` }
    this.finish()
  }

  /** SIGTERM to the group; SIGKILL after the grace period if anything of it still runs. */
  private terminate (reason: RunEnd, why: string): void {
    const pgid = this.pgid
    if (this.end !== 'exited' || pgid === undefined || this.exitCode !== null || this.exitSignal !== null) return
    this.end = reason
    this.cancelReason = why
    signalGroup(pgid, 'SIGTERM')
    // Not unref()ed: once SIGTERM is sent, the SIGKILL must follow even if nothing else keeps
    // the process alive (a group that outlived SIGTERM would otherwise outlive us); it holds
    // the process for killGraceMs at most.
    this.killTimer = setTimeout(() => {
      groupHasLiveProcess(pgid).then((alive) => {
        if (!alive) return
        this.logger.warn({ pgid }, 'Bolt process group outlived SIGTERM; sending SIGKILL')
        this.kill(pgid)
      }, () => this.kill(pgid))
    }, this.options.killGraceMs)
  }

  private kill (pgid: number): void {
    this.killedAt = Date.now()
    signalGroup(pgid, 'SIGKILL')
    this.tryFinish()
  }

  private onExit (code: number | null, signal: NodeJS.Signals | null): void {
    this.exitCode = code
    this.exitSignal = signal
    clearTimeout(this.timeoutTimer)
    // A leftover process holding the pipes must not keep the execution open.
    this.pipeTimer = setTimeout(() => {
      this.child?.stdout.destroy()
      this.child?.stderr.destroy()
      this.pipesGivenUp = true
      this.tryFinish()
    }, PIPE_CLOSE_WAIT_MS)
    this.pipeTimer.unref()
  }

  private onClose (): void {
    this.closed = true
    this.tryFinish()
  }

  /**
   * Settles once Bolt's output is read (or given up on) and, for a terminated run, once nothing
   * of its group runs any more: Bolt dies of SIGTERM at once, but what it started may ignore the
   * signal and live on until the SIGKILL.
   */
  private tryFinish (): void {
    if (this.settled || this.checkingGroup || (!this.closed && !this.pipesGivenUp)) return
    if (this.end === 'exited') {
      clearTimeout(this.killTimer)
      return this.finish()
    }
    this.checkingGroup = true
    groupHasLiveProcess(this.pgid!).then((alive) => alive, () => false).then((alive) => {
      this.checkingGroup = false
      if (!alive || (this.killedAt !== undefined && Date.now() - this.killedAt > KILLED_GROUP_WAIT_MS)) {
        if (alive) this.logger.error({ pgid: this.pgid }, 'Bolt process group still runs after SIGKILL; ending the execution anyway')
        clearTimeout(this.killTimer)
        return this.finish()
      }
      // Still running: look again shortly (the SIGKILL, if it comes to that, ends it).
      clearTimeout(this.groupTimer)
      this.groupTimer = setTimeout(() => this.tryFinish(), GROUP_POLL_MS)
    })
  }

  private finish (): void {
    if (this.settled) return
    this.settled = true
    clearTimeout(this.timeoutTimer)
    clearTimeout(this.pipeTimer)
    clearTimeout(this.groupTimer)
    this.request.signal?.removeEventListener('abort', this.onAbort)
    const doc = this.document.finish(this.exitCode)
    const { invocation, maxOutputBytes } = this.request
    const resultsCut = applyResultBudget(doc.results, this.liveStderr, invocation.type, maxOutputBytes)
    if (this.end === 'spawn-failed') doc.error = null
    this.resolve({
      end: this.end,
      exitCode: this.exitCode,
      signal: this.exitSignal,
      document: doc,
      outputTruncated: this.budget.exhausted || resultsCut || doc.truncated,
      spawnError: this.spawnError,
      cancelReason: this.cancelReason,
      stderrTail: this.stderr.tail
    })
  }
}
