import { execFile, spawn } from 'node:child_process'
import { StringDecoder } from 'node:string_decoder'
import { stripVTControlCharacters } from 'node:util'
import type { BoltInvocation } from './arguments.js'
import { BoltDocumentParser, BoltStdoutDemux, type ParsedDocument } from './output-parser.js'
import { OutputBudget, cutUtf8 } from './output-limit.js'
import { groupHasLiveProcess, signalGroup } from './process-group.js'
import type { ExecutionError, StreamingCallback, TargetResult } from '../types.js'

export interface RunnerLogger {
  debug: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
}

export interface BoltRunnerOptions {
  boltPath: string
  env: NodeJS.ProcessEnv
  /** How long the process group has after SIGTERM before SIGKILL. */
  killGraceMs: number
  logger: RunnerLogger
}

export interface RunRequest {
  invocation: BoltInvocation
  timeoutMs: number
  maxOutputBytes: number
  /** Aborting cancels the run; the abort reason (a string) is kept as the cancel reason. */
  signal?: AbortSignal
  callbacks?: StreamingCallback
  /** Called once the process exists, with its process group id. */
  onSpawn?: (pgid: number) => void
}

export type RunEnd = 'exited' | 'spawn-failed' | 'timed_out' | 'cancelled'

export interface RunOutcome {
  end: RunEnd
  exitCode: number | null
  signal: NodeJS.Signals | null
  document: ParsedDocument
  /** Output went over the byte limit: live output or results were cut. */
  outputTruncated: boolean
  spawnError?: ExecutionError
  cancelReason?: string
  /** The end of Bolt's own stderr, for errors that have nothing else to say. */
  stderrTail: string
}

const STDERR_TAIL_CHARS = 4096
/** After Bolt exits, how long a leftover process may hold its pipes open. */
const PIPE_CLOSE_WAIT_MS = 2000

let spawnQueue: Promise<void> = Promise.resolve()

/**
 * Spawning blocks the event loop for the length of a fork (tens of milliseconds for a large
 * process); executions started together are spawned one per turn of the loop, so a burst of
 * them does not stall every stream at once.
 */
function nextSpawnTurn (): Promise<void> {
  const turn = spawnQueue.then(() => new Promise<void>((resolve) => setImmediate(resolve)))
  spawnQueue = turn
  return turn
}

export const truncationMessage = (maxBytes: number): string =>
  `[output truncated: this execution reached its limit of ${maxBytes} bytes; further output is neither streamed nor kept]`

export class BoltRunner {
  constructor (private readonly options: BoltRunnerOptions) {}

  /** Asks Bolt for its version. Real Bolt answers with a bare version such as `4.0.0`. */
  version (timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.options.boltPath, ['--version'], { env: this.options.env, timeout: timeoutMs, maxBuffer: 64 * 1024 },
        (err, stdout) => {
          if (err !== null) {
            const code = (err as NodeJS.ErrnoException).code
            reject(new Error(code === 'ENOENT'
              ? `Bolt executable '${this.options.boltPath}' not found`
              : `'${this.options.boltPath} --version' failed: ${err.message.split('\n')[0]}`))
            return
          }
          const version = stdout.trim()
          if (!/^\d+\.\d+\.\d+(?:[-.+][0-9A-Za-z.-]+)?$/.test(version)) {
            reject(new Error(`'${this.options.boltPath}' does not look like Puppet Bolt: '--version' printed ${JSON.stringify(version.slice(0, 80))}`))
            return
          }
          resolve(version)
        })
    })
  }

  async run (request: RunRequest): Promise<RunOutcome> {
    await nextSpawnTurn()
    return this.start(request)
  }

  private start (request: RunRequest): Promise<RunOutcome> {
    const { invocation, callbacks, maxOutputBytes } = request
    const budget = new OutputBudget(maxOutputBytes)
    const captured = new Map<string, { stdout: string, stderr: string }>()
    let truncatedNotified = false
    const captureOutput = invocation.type === 'task' || invocation.type === 'package'

    const emit = (stream: 'stdout' | 'stderr', target: string | null, text: string): void => {
      const { text: kept, crossed } = budget.take(text)
      if (kept.length > 0) {
        // Only a task's streamed output is needed for its result; Bolt's document has the command's.
        if (target !== null && captureOutput) {
          let entry = captured.get(target)
          if (entry === undefined) captured.set(target, entry = { stdout: '', stderr: '' })
          entry[stream] += kept
        }
        if (stream === 'stdout') callbacks?.onStdout?.(kept, target)
        else callbacks?.onStderr?.(kept, target)
      }
      if (crossed && !truncatedNotified) {
        truncatedNotified = true
        callbacks?.flush?.()
        callbacks?.onTruncated?.(truncationMessage(maxOutputBytes))
      }
    }

    // Strings inside one result line are bounded too; the results are cut to the budget later.
    const document = new BoltDocumentParser({ type: invocation.type, maxStringChars: maxOutputBytes + 1024 })
    const demux = new BoltStdoutDemux({ output: (stream, target, text) => emit(stream, target, text) }, document)

    return new Promise<RunOutcome>((resolve) => {
      let settled = false
      let stderrTail = ''
      let end: RunEnd = 'exited'
      let cancelReason: string | undefined
      let spawnError: ExecutionError | undefined
      let exitCode: number | null = null
      let exitSignal: NodeJS.Signals | null = null
      let timeoutTimer: NodeJS.Timeout | undefined
      let killTimer: NodeJS.Timeout | undefined
      let pipeTimer: NodeJS.Timeout | undefined
      let closed = false

      const child = spawn(this.options.boltPath, invocation.args, {
        detached: true, // its own process group
        stdio: ['ignore', 'pipe', 'pipe'],
        env: this.options.env
      })
      const pgid = child.pid

      const finish = (): void => {
        if (settled) return
        settled = true
        clearTimeout(timeoutTimer)
        clearTimeout(pipeTimer)
        request.signal?.removeEventListener('abort', onAbort)
        const doc = document.finish()
        const resultsCut = applyResultBudget(doc.results, captured, invocation.type, maxOutputBytes)
        if (end === 'spawn-failed') doc.error = null
        resolve({
          end,
          exitCode,
          signal: exitSignal,
          document: doc,
          outputTruncated: budget.exhausted || resultsCut || doc.truncated,
          spawnError,
          cancelReason,
          stderrTail
        })
      }

      const terminate = (reason: RunEnd, why?: string): void => {
        if (end !== 'exited' || pgid === undefined || exitCode !== null || exitSignal !== null) return
        end = reason
        cancelReason = why
        signalGroup(pgid, 'SIGTERM')
        killTimer = setTimeout(() => {
          groupHasLiveProcess(pgid).then((alive) => {
            if (alive) {
              this.options.logger.warn({ pgid }, 'Bolt process group outlived SIGTERM; sending SIGKILL')
              signalGroup(pgid, 'SIGKILL')
            }
            if (closed) finish()
          }, () => {
            signalGroup(pgid, 'SIGKILL')
            if (closed) finish()
          })
        }, this.options.killGraceMs)
        // Not unref()ed: once SIGTERM is sent, the SIGKILL must follow even if nothing else keeps
        // the process alive (a group that outlived SIGTERM would otherwise outlive us); it holds
        // the process for killGraceMs at most.
      }

      const onAbort = (): void => {
        const reason = request.signal?.reason
        terminate('cancelled', typeof reason === 'string' ? reason : 'Cancelled')
      }

      child.once('error', (err: NodeJS.ErrnoException) => {
        if (pgid !== undefined) {
          this.options.logger.warn({ err }, 'Bolt process error')
          return
        }
        end = 'spawn-failed'
        spawnError = err.code === 'ENOENT'
          ? { kind: 'bolt-stream/bolt-not-found', message: `Bolt executable '${this.options.boltPath}' was not found; set BOLT_PATH` }
          : { kind: 'bolt-stream/spawn-failed', message: `Bolt could not be started: ${err.message}` }
        finish()
      })
      if (pgid === undefined) return

      request.onSpawn?.(pgid)
      if (request.signal?.aborted === true) queueMicrotask(onAbort)
      else request.signal?.addEventListener('abort', onAbort, { once: true })
      timeoutTimer = setTimeout(() => terminate('timed_out', `Timed out after ${request.timeoutMs} ms`), request.timeoutMs)
      timeoutTimer.unref()

      const stdoutDecoder = new StringDecoder('utf8')
      child.stdout.on('data', (chunk: Buffer) => demux.push(stdoutDecoder.write(chunk)))
      child.stdout.once('end', () => {
        const rest = stdoutDecoder.end()
        if (rest.length > 0) demux.push(rest)
        demux.end()
      })

      const stderrDecoder = new StringDecoder('utf8')
      let stderrPending = ''
      const stderrLine = (raw: string): void => {
        const line = stripVTControlCharacters(raw)
        if (line.includes('[ID: stream_experimental]')) {
          this.options.logger.debug({ line }, 'bolt stderr')
          return
        }
        stderrTail = (stderrTail + line + '\n').slice(-STDERR_TAIL_CHARS)
        emit('stderr', null, line + '\n')
      }
      const stderrText = (text: string): void => {
        stderrPending += text
        let nl: number
        while ((nl = stderrPending.indexOf('\n')) !== -1) {
          stderrLine(stderrPending.slice(0, nl))
          stderrPending = stderrPending.slice(nl + 1)
        }
        // A runaway line without newlines is passed on in pieces rather than held.
        if (stderrPending.length > 65536) {
          emit('stderr', null, stripVTControlCharacters(stderrPending))
          stderrPending = ''
        }
      }
      child.stderr.on('data', (chunk: Buffer) => stderrText(stderrDecoder.write(chunk)))
      child.stderr.once('end', () => {
        stderrText(stderrDecoder.end())
        if (stderrPending.length > 0) stderrLine(stderrPending)
        stderrPending = ''
      })

      child.once('exit', (code, signal) => {
        exitCode = code
        exitSignal = signal
        clearTimeout(timeoutTimer)
        // A leftover process holding the pipes must not keep the execution open.
        pipeTimer = setTimeout(() => {
          child.stdout.destroy()
          child.stderr.destroy()
          finish()
        }, PIPE_CLOSE_WAIT_MS)
        pipeTimer.unref()
      })
      child.once('close', () => {
        closed = true
        if (end === 'exited') {
          clearTimeout(killTimer)
          finish()
          return
        }
        // Terminated: the execution ends once nothing of the group runs any more.
        groupHasLiveProcess(pgid).then((alive) => {
          if (!alive) {
            clearTimeout(killTimer)
            finish()
          }
        }, finish)
      })
    })
  }
}

/**
 * Fills in task output captured from the stream, then cuts the results' stdout/stderr to one
 * byte budget shared by all targets. Returns whether anything was cut.
 */
function applyResultBudget (
  results: TargetResult[],
  captured: Map<string, { stdout: string, stderr: string }>,
  type: BoltInvocation['type'],
  maxBytes: number
): boolean {
  let left = maxBytes
  let cut = false
  for (const result of results) {
    const live = captured.get(result.target)
    if (live !== undefined && (type === 'task' || type === 'package')) {
      // A task's raw stdout/stderr is what it streamed; Bolt's document keeps only parts of it.
      if (live.stdout.length > 0) result.stdout = live.stdout
      if (live.stderr.length > 0) result.stderr = live.stderr
    }
    for (const key of ['stdout', 'stderr'] as const) {
      const text = result[key]
      if (text === undefined) continue
      const kept = cutUtf8(text, left)
      if (kept.length !== text.length) cut = true
      left -= Buffer.byteLength(kept, 'utf8')
      result[key] = kept
    }
  }
  return cut
}
