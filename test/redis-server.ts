import { freePort } from './helper.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// A redis-server of a test's own: a free port, nothing kept on disk, a temporary directory;
// never the machine's 6379, so test files do not share (or wipe) each other's data.

export const REDIS_SERVER = '/usr/bin/redis-server'

/** The skip message of tests that need Redis, or false when it is there. */
export const redisMissing: string | false = existsSync(REDIS_SERVER)
  ? false
  : `needs ${REDIS_SERVER} (Debian package redis-server)`

export interface TestRedis {
  port: number
  url: string
  /** Kills the server (SIGKILL: nothing is saved anyway); resolves once it has exited. */
  stop: () => Promise<void>
  /** Saves its data to its directory and exits (SHUTDOWN SAVE): an outage that loses nothing. */
  saveAndStop: () => Promise<void>
  /** Starts it again on the same port (with the data saved by saveAndStop, if any). */
  start: () => Promise<void>
}

interface Teardown { teardown: (fn: () => unknown) => void }

function launch (port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(REDIS_SERVER, [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  return new Promise((resolve, reject) => {
    let out = ''
    const onData = (d: Buffer): void => {
      out += d.toString()
      if (out.includes('Ready to accept connections')) {
        child.stdout!.off('data', onData)
        // Keep draining, so a chatty server never blocks on a full pipe.
        child.stdout!.resume()
        resolve(child)
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.resume()
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out.slice(-2000)}`)))
    child.once('error', reject)
  })
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGKILL')
  await exited
}

/** Starts a redis-server for this test; stopped and its directory removed at teardown. */
export async function startRedis (t: Teardown): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'bolt-stream-redis-'))
  let child: ChildProcess | null = null
  let port = 0
  // Another process may take the port between the probe and the bind: try a few.
  for (let attempt = 0; child === null; attempt++) {
    port = await freePort()
    try {
      child = await launch(port, dir)
    } catch (err) {
      if (attempt >= 4) throw err
    }
  }
  let current: ChildProcess = child
  t.teardown(async () => {
    await stopChild(current)
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: () => stopChild(current),
    saveAndStop: async () => {
      const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()))
      const socket = connect(port, '127.0.0.1', () => socket.write('SHUTDOWN SAVE\r\n'))
      socket.on('error', () => {})
      await exited
      socket.destroy()
    },
    start: async () => {
      await stopChild(current)
      current = await launch(port, dir)
    }
  }
}
