import { spawn, type ChildProcess } from 'node:child_process'
import { ROOT } from '../helper.js'

export const BIN = `${ROOT}bin/bolt-stream.mjs`

export interface Result { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

export interface Running { child: ChildProcess, stdout: () => string, stderr: () => string, done: Promise<Result> }

/** Runs the CLI as its own process, as a user would (no TTY). */
export function start (args: string[], env: Record<string, string> = {}, command: string[] = [process.execPath, BIN]): Running {
  const child = spawn(command[0], [...command.slice(1), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const done = new Promise<Result>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
  return { child, stdout: () => stdout, stderr: () => stderr, done }
}

export function cli (args: string[], env: Record<string, string> = {}): Promise<Result> {
  return start(args, env).done
}

export const ID = /^[0-9a-f-]{36}$/

/** The id the CLI prints on stderr when it follows a new execution. */
export function followedId (stderr: string): string {
  const m = /execution ([0-9a-f-]{36})/.exec(stderr)
  if (m === null) throw new Error(`no execution id in: ${stderr}`)
  return m[1]
}
