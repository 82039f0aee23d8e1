import { spawn } from 'node:child_process'
import { endGroup } from '../bolt/process-group.js'
import type { Logger } from '../logger.js'

// One `bolt … show` run: its own process group (so a hang is killed whole), stdout kept up to a
// limit, the end of stderr kept for errors. Runs beyond `maxConcurrent` wait for a free slot;
// they never touch the execution queue.

export interface ShowRunnerOptions {
  boltPath: string
  env: NodeJS.ProcessEnv
  timeoutMs: number
  killGraceMs: number
  /** Bolt processes of discovery at once; more wait. */
  maxConcurrent: number
  /** Beyond this much stdout the run is ended (a sane inventory prints far less). */
  maxOutputBytes: number
  logger: Logger
}

export interface ShowOutput {
  exitCode: number | null
  signal: NodeJS.Signals | null
  stdout: string
  /** The last few KiB of stderr. */
  stderr: string
}

export type ShowFailure = 'timeout' | 'not-found' | 'spawn-failed' | 'too-large' | 'closed'

export class ShowRunError extends Error {
  constructor (readonly reason: ShowFailure, message: string) {
    super(message)
  }
}

const STDERR_TAIL_BYTES = 4096
/** After Bolt exits, how long something it left behind may hold its pipes open. */
const PIPE_CLOSE_WAIT_MS = 2000

export class ShowRunner {
  private readonly running = new Set<(failure: ShowRunError) => void>()
  private readonly settling = new Set<Promise<unknown>>()
  private readonly waiting: Array<() => void> = []
  private active = 0
  private closed = false

  constructor (private readonly options: ShowRunnerOptions) {}

  /** Runs `bolt <args>`; rejects with a ShowRunError when it could not run to its end. */
  async run (args: string[]): Promise<ShowOutput> {
    if (this.active >= this.options.maxConcurrent) await new Promise<void>((resolve) => this.waiting.push(resolve))
    if (this.closed) throw new ShowRunError('closed', 'The service is shutting down')
    this.active++
    const done = this.spawnOne(args)
    this.settling.add(done)
    try {
      return await done
    } finally {
      this.settling.delete(done)
      this.active--
      this.waiting.shift()?.()
    }
  }

  /** Ends every run (their groups killed) and refuses new ones; resolves once they are gone. */
  async close (): Promise<void> {
    this.closed = true
    for (const resolve of this.waiting.splice(0)) resolve()
    const failure = new ShowRunError('closed', 'The service is shutting down')
    for (const stop of this.running) stop(failure)
    await Promise.allSettled([...this.settling])
  }

  private spawnOne (args: string[]): Promise<ShowOutput> {
    const { boltPath, env, timeoutMs, killGraceMs, maxOutputBytes, logger } = this.options
    return new Promise((resolve, reject) => {
      const child = spawn(boltPath, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env })
      const stdout: Buffer[] = []
      let stdoutBytes = 0
      let stderr = Buffer.alloc(0)
      let failure: ShowRunError | undefined
      let ending: Promise<unknown> = Promise.resolve()
      let pipeTimer: NodeJS.Timeout | undefined
      const stop = (why: ShowRunError): void => {
        if (failure !== undefined || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
        failure = why
        logger.warn({ pgid: child.pid, args, reason: why.reason }, 'ending a Bolt discovery run')
        ending = endGroup(child.pid, killGraceMs)
      }
      const timer = setTimeout(() => stop(new ShowRunError('timeout', `Bolt did not answer within ${timeoutMs} ms`)), timeoutMs)
      child.once('error', (err: NodeJS.ErrnoException) => {
        if (child.pid !== undefined) return logger.warn({ err }, 'Bolt discovery process error')
        clearTimeout(timer)
        reject(err.code === 'ENOENT'
          ? new ShowRunError('not-found', `Bolt executable '${boltPath}' was not found; set BOLT_PATH`)
          : new ShowRunError('spawn-failed', `Bolt could not be started: ${err.message}`))
      })
      if (child.pid === undefined) return
      this.running.add(stop)
      child.stdout.on('data', (chunk: Buffer) => {
        stdoutBytes += chunk.length
        if (stdoutBytes > maxOutputBytes) stop(new ShowRunError('too-large', `Bolt printed more than ${maxOutputBytes} bytes`))
        else stdout.push(chunk)
      })
      child.stderr.on('data', (chunk: Buffer) => { stderr = Buffer.concat([stderr, chunk]).subarray(-STDERR_TAIL_BYTES) })
      child.once('exit', () => {
        clearTimeout(timer)
        pipeTimer = setTimeout(() => { child.stdout.destroy(); child.stderr.destroy() }, PIPE_CLOSE_WAIT_MS)
        pipeTimer.unref()
      })
      child.once('close', (exitCode: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(timer)
        clearTimeout(pipeTimer)
        this.running.delete(stop)
        // Answer once nothing of a killed group is left.
        void ending.catch(() => {}).then(() => {
          if (failure !== undefined) reject(failure)
          else resolve({ exitCode, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: stderr.toString('utf8') })
        })
      })
    })
  }
}
