import { execFile } from 'node:child_process'
import type { BoltInvocation } from './arguments.js'
import type { ParsedDocument } from './output-parser.js'
import type { ExecutionError } from '../../schemas/index.js'
import { BoltRun } from './bolt-run.js'
import type { Logger } from '../logger.js'
import type { StreamingCallback } from '../streaming/streaming-callback.js'

export interface BoltRunnerOptions {
  boltPath: string
  env: NodeJS.ProcessEnv
  /** How long the process group has after SIGTERM before SIGKILL. */
  killGraceMs: number
  logger: Logger
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
  /** Logs about this run (an execution's carries its id); default: the runner's. */
  logger?: Logger
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

export { truncationMessage } from './bolt-run.js'

/** `--stream`, which live output needs, came with Puppet Bolt 3.2 (OpenBolt, 5.x, has it). */
export const MIN_BOLT_VERSION = [3, 2] as const

/** Why this Bolt version cannot run our commands, or null when it can. */
export function unsupportedVersion (version: string): string | null {
  const [major, minor] = version.split(/[.+-]/).map(Number)
  if (major > MIN_BOLT_VERSION[0] || (major === MIN_BOLT_VERSION[0] && minor >= MIN_BOLT_VERSION[1])) return null
  return `Bolt ${version} is too old: bolt-stream runs Bolt with --stream, which Bolt has from ${MIN_BOLT_VERSION.join('.')} on (OpenBolt 5.x has it)`
}

export class BoltRunner {
  constructor (private readonly options: BoltRunnerOptions) {}

  /**
   * Asks Bolt for its version. Real Bolt answers with a bare version such as `5.6.0`; one
   * without `--stream` (before 3.2) is refused with the reason. `signal` ends the process early;
   * the promise settles once the process has exited.
   */
  version (timeoutMs = 30_000, signal?: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.options.boltPath, ['--version'], { env: this.options.env, timeout: timeoutMs, maxBuffer: 64 * 1024, signal },
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
          const unsupported = unsupportedVersion(version)
          if (unsupported !== null) reject(new Error(unsupported))
          else resolve(version)
        })
    })
  }

  async run (request: RunRequest): Promise<RunOutcome> {
    await nextSpawnTurn()
    return new Promise((resolve) => new BoltRun(this.options, request, resolve).start())
  }
}
