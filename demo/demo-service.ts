import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** The Bolt stand-in of the tests: runs every target of the demo inventory on this machine. */
export const STAND_IN = join(ROOT, 'test/fixtures/bolt-stand-in.mjs')
export const DEMO_PROJECT = join(ROOT, 'demo/project')

export interface DemoService {
  /** The viewer's URL, like http://127.0.0.1:3000/ */
  url: string
  stop: () => Promise<void>
  /** Resolves when the service exits by itself. */
  exited: Promise<number | null>
}

/**
 * Starts server.ts (through tsx) in demo mode: the stand-in as Bolt, a copy of demo/project as the
 * Bolt project, an in-memory history, DEMO_MODE=true. Resolves once it listens.
 */
export async function startDemo (env: NodeJS.ProcessEnv = process.env): Promise<DemoService> {
  const dir = mkdtempSync(join(tmpdir(), 'bolt-stream-demo-'))
  const project = join(dir, 'project')
  cpSync(DEMO_PROJECT, project, { recursive: true })
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...env,
      BOLT_PATH: STAND_IN,
      BOLT_PROJECT: project,
      STORE: 'memory',
      DEMO_MODE: 'true',
      // Commands run on this machine: only this machine may ask for them.
      HOST: env.HOST ?? '127.0.0.1',
      PORT: env.PORT ?? '3000',
      LOG_LEVEL: 'info'
    }
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    rmSync(dir, { recursive: true, force: true })
    resolve(code)
  }))
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      let entry: { level?: number, msg?: string }
      try {
        entry = JSON.parse(line)
      } catch {
        return
      }
      const listening = /^Server listening at (http:\/\/[^\s]+)$/.exec(entry.msg ?? '')
      if (listening !== null && !listening[1].includes('[')) resolve(`${listening[1]}/`)
      // Warnings and errors only: the request log stays out of the way.
      else if ((entry.level ?? 0) >= 40) console.error(`bolt-stream: ${entry.msg ?? line}`)
    })
    void exited.then((code) => reject(new Error(`the service exited (code ${code}) before it listened`)))
  })
  return {
    url,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    }
  }
}
