import { createServer as createNetServer } from 'node:net'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import app, { serverOptions } from '../app.js'
import { loadConfig, type Config } from '../services/config/load-config.js'
import type { ExecutionRecord } from '../schemas/index.js'
import { copyProject } from './fixtures/projects.js'

/** The Bolt stand-in: a real executable that behaves like the Bolt CLI (test/fixtures). */
export const STAND_IN = fileURLToPath(new URL('./fixtures/bolt-stand-in.mjs', import.meta.url))

const STAND_IN_KNOBS = [
  'STANDIN_LOG', 'STANDIN_IGNORE_SIGTERM', 'STANDIN_PUPPET_EXIT', 'STANDIN_FATAL_RUBY', 'STANDIN_TRUNCATE_DOC',
  'STANDIN_NO_ITEMS', 'STANDIN_WARN', 'STANDIN_VERSION', 'STANDIN_VERSION_DELAY_MS', 'STANDIN_STARTUP_DELAY_MS',
  'STANDIN_HOLD_FILE'
]

interface Teardown { teardown: (fn: () => unknown) => void }

export function tempDir (t: Teardown, prefix = 'bolt-stream-test-'): string {
  // Every temp dir is also a copy of the stand-in's test project (tests use them as BOLT_PROJECT).
  const dir = copyProject('test', mkdtempSync(join(tmpdir(), prefix)))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface BuildOptions {
  /** Service settings (environment variable names), over the test defaults. */
  env?: Record<string, string>
  /** STANDIN_* knobs for the Bolt stand-in of this app. */
  standIn?: Record<string, string>
  /** Listen on 127.0.0.1:0 (for real HTTP and SSE clients). */
  listen?: boolean
  /** Keep the service's log lines (level info) for the test to read. */
  captureLogs?: boolean
}

export interface Spawn {
  argv: string[]
  pid: number
  pgid?: number
  env: string[]
}

export interface RouteInfo {
  method: string
  url: string
  /** The status codes its schema declares. */
  responses: string[]
  /** Left out of the API's description (`schema.hide`). */
  hidden: boolean
  /** A HEAD route of its own that the description lists (HEAD twins of GETs are not listed). */
  documentedHead: boolean
}

export interface TestApp {
  app: FastifyInstance
  config: Config
  /** Base URL when listening, e.g. http://127.0.0.1:41234 */
  url: string
  /** Bolt runs the stand-in has seen (version probes left out). */
  spawns: () => Spawn[]
  /** Every route the app registered (HEAD twins included). */
  routes: () => RouteInfo[]
  /** The service's log lines so far, parsed (with `captureLogs`). */
  logs: () => Array<Record<string, any>>
  /** The same, as the raw text written. */
  logText: () => string
}

/**
 * The config of a test app: the stand-in as Bolt, under `dir`. Bolt's environment comes from this
 * config alone: PATH and HOME of the test process, and the stand-in's knobs (BOLT_ENV_PASSTHROUGH).
 */
export function testConfig (dir: string, env: Record<string, string> = {}, standIn: Record<string, string> = {}): Config {
  return loadConfig({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    BOLT_PATH: STAND_IN,
    BOLT_PROJECT: dir,
    DATABASE_PATH: join(dir, 'bolt-stream.db'),
    LOG_LEVEL: 'silent',
    BOLT_KILL_GRACE_MS: '500',
    // Suites send hundreds of requests from one address; the limiter has its own test.
    RATE_LIMIT_MAX: '1000000',
    MAX_STREAMS_PER_CLIENT: '10000',
    // A loaded test machine (tap runs files side by side) must not shed requests; shedding has its own test.
    SHED_MAX_EVENT_LOOP_DELAY_MS: '0',
    BOLT_ENV_PASSTHROUGH: STAND_IN_KNOBS.join(','),
    ...standIn,
    ...env
  }, dir)
}

type SerializerFactory = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildSerializer']>
const serializerFactory = SerializerSelector() as unknown as SerializerFactory
const serializers = new WeakMap<object, Map<string, unknown>>()

/**
 * Fastify's response serializers, compiled once per schema for the whole test file: a test file
 * builds many apps from the same route schemas, and compiling them again took about 0.4 of each
 * build's 0.86 s. The same compiler as Fastify's default; only the repetition is skipped.
 */
const reusedSerializers: SerializerFactory = (externalSchemas, serializerOpts) => {
  const compile = serializerFactory(externalSchemas, serializerOpts)
  const shared = Object.keys(externalSchemas ?? {}).sort().join(',')
  return (route) => {
    const schema = route.schema as object
    const key = `${String(route.httpStatus)} ${String((route as { contentType?: string }).contentType)} ${shared}`
    let byKey = serializers.get(schema)
    if (byKey === undefined) serializers.set(schema, byKey = new Map())
    let fn = byKey.get(key)
    if (fn === undefined) byKey.set(key, fn = compile(route))
    return fn as ReturnType<typeof compile>
  }
}

/** Builds the app as server.ts does, with the stand-in as Bolt; closed at teardown. */
export async function build (t: Teardown, options: BuildOptions = {}): Promise<TestApp> {
  const dir = tempDir(t)
  const spawnLog = join(dir, 'spawns.jsonl')
  writeFileSync(spawnLog, '')
  const config = testConfig(dir, options.env, { STANDIN_LOG: spawnLog, STANDIN_STARTUP_DELAY_MS: '0', ...options.standIn })
  const lines: string[] = []
  const base = serverOptions(config)
  const fastify = Fastify({
    ...(options.captureLogs === true
      ? { ...base, logger: { ...(base.logger as object), level: 'info', stream: { write: (line: string) => { lines.push(line) } } } }
      : base),
    schemaController: { compilersFactory: { buildSerializer: reusedSerializers } }
  })
  const routes: RouteInfo[] = []
  fastify.addHook('onRoute', (r) => {
    const responses = Object.keys((r.schema?.response ?? {}) as object)
    const described = { responses, hidden: r.schema?.hide === true, documentedHead: r.config?.swagger?.exposeHeadRoute === true }
    for (const method of Array.isArray(r.method) ? r.method : [r.method]) routes.push({ method, url: r.url, ...described })
  })
  await fastify.register(app, { config })
  await fastify.ready()
  t.teardown(() => fastify.close())
  let url = ''
  if (options.listen === true) {
    await fastify.listen({ host: '127.0.0.1', port: 0 })
    const address = fastify.server.address()
    if (address === null || typeof address === 'string') throw new Error('no address')
    url = `http://127.0.0.1:${address.port}`
  }
  const spawns = (): Spawn[] => readFileSync(spawnLog, 'utf8').split('\n').filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Spawn).filter((s) => !s.argv.includes('--version'))
  return { app: fastify, config, url, spawns, routes: () => [...routes], logs: () => lines.map((l) => JSON.parse(l)), logText: () => lines.join('') }
}

/** API tokens for tests: each name gets a random token; `env` is the AUTH_TOKENS value. */
export function makeTokens (scopes: Record<string, string[]>): { env: string, token: Record<string, string>, auth: (name: string) => Record<string, string> } {
  const token: Record<string, string> = {}
  const entries: string[] = []
  for (const [name, list] of Object.entries(scopes)) {
    token[name] = randomBytes(24).toString('base64url')
    entries.push(`${name} ${list.join(',')} ${createHash('sha256').update(token[name]).digest('hex')}`)
  }
  return { env: entries.join(';'), token, auth: (name) => ({ authorization: `Bearer ${token[name]}` }) }
}

export interface SseEvent {
  id?: string
  event: string
  /** The parsed JSON payload. */
  payload: { type: string, executionId: string, timestamp: string, seq?: number, data: Record<string, unknown> }
  receivedAt: number
}

export interface SseStream {
  status: number
  headers: IncomingHttpHeaders
  events: SseEvent[]
  comments: string[]
  /** Raw body text when the response is not an event stream. */
  body: string
  /** Resolves when the server ends the response (or the socket closes). */
  ended: Promise<void>
  /** Resolves with the first event (from now or already received) that matches. */
  waitFor: (match: (e: SseEvent) => boolean, timeoutMs?: number) => Promise<SseEvent>
  close: () => void
}

/** A real HTTP client reading SSE frames with a WHATWG-conformant parser. */
export function openStream (url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = []
      const comments: string[] = []
      const waiters: Array<{ match: (e: SseEvent) => boolean, resolve: (e: SseEvent) => void }> = []
      let body = ''
      const parser = createParser({
        onEvent (message: EventSourceMessage) {
          const event: SseEvent = { id: message.id, event: message.event ?? 'message', payload: JSON.parse(message.data), receivedAt: performance.now() }
          events.push(event)
          for (const w of [...waiters]) {
            if (w.match(event)) {
              waiters.splice(waiters.indexOf(w), 1)
              w.resolve(event)
            }
          }
        },
        onComment (comment) { comments.push(comment) }
      })
      const isStream = String(res.headers['content-type']).startsWith('text/event-stream')
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        if (isStream) parser.feed(chunk)
        else body += chunk
      })
      const ended = new Promise<void>((resolve) => {
        res.once('end', () => resolve())
        res.once('close', () => resolve())
        res.once('error', () => resolve())
      })
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        comments,
        get body () { return body },
        ended,
        waitFor (match, timeoutMs = 10_000) {
          const found = events.find(match)
          if (found !== undefined) return Promise.resolve(found)
          return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no matching event within ${timeoutMs} ms; got ${events.map((e) => e.event).join(',')}`)), timeoutMs)
            waiters.push({ match, resolve: (e) => { clearTimeout(timer); resolve(e) } })
          })
        },
        close () { req.destroy() }
      })
    })
    req.once('error', reject)
    req.end()
  })
}

/** POSTs JSON over real HTTP. */
export async function postJson (url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number, headers: Headers, json: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, headers: res.headers, json: text.length > 0 ? JSON.parse(text) : null }
}

export async function getJson (url: string, headers: Record<string, string> = {}): Promise<{ status: number, json: any }> {
  const res = await fetch(url, { headers })
  const text = await res.text()
  return { status: res.status, json: text.length > 0 ? JSON.parse(text) : null }
}

/** Waits until `check` returns true, polling. */
export async function until (check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The project's root, where server.ts is. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface ServerProcess {
  child: ChildProcess
  url: string
  exited: Promise<number | null>
  stderr: () => string
}

/** Starts server.ts as its own process (from source, as `npm start` would run it compiled). */
export async function startServer (env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    cwd: ROOT,
    // Shedding off as in build(): side-by-side test files load the machine; shedding has its own test.
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', SHED_MAX_EVENT_LOOP_DELAY_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString()
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)
      if (m !== null) resolve(m[1])
    })
    void exited.then((code) => reject(new Error(`server exited with ${code}: ${stderr}`)))
  })
  return { child, url, exited, stderr: () => stderr }
}

/** A record with test defaults, for the store tests. */
export function makeRecord (id: string, overrides: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    id,
    type: 'command',
    targets: ['web1'],
    action: 'uptime',
    status: 'running',
    startedAt: '2024-01-01T00:00:00.000Z',
    completedAt: null,
    expertMode: false,
    command: null,
    results: [],
    error: null,
    outputTruncated: false,
    requestedBy: null,
    request: null,
    rerunOf: null,
    ...overrides
  }
}

/** Starts an execution through the API (inject); returns its id. */
export async function startExecution (app: FastifyInstance, url: string, body: Record<string, unknown>): Promise<string> {
  const res = await app.inject({ method: 'POST', url, payload: body })
  if (res.statusCode !== 202) throw new Error(`POST ${url} answered ${res.statusCode}: ${res.body}`)
  return res.json().executionId as string
}

export async function getRecord (app: FastifyInstance, id: string): Promise<any> {
  return (await app.inject(`/api/executions/${id}`)).json()
}

/** Polls until the record is finished (its log then ends with the terminal event). */
export async function waitFinished (app: FastifyInstance, id: string, timeoutMs = 15_000): Promise<any> {
  let record: any
  await until(async () => {
    record = await getRecord(app, id)
    return record.status !== 'running' && record.status !== 'queued'
  }, timeoutMs, `execution ${id} to finish`)
  return record
}

/** A port free on 127.0.0.1 now, for a program started by a test (nginx, redis-server, a metrics listener). */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Keeps the event loop alive while awaiting something whose only timer may be unref'd. */
export async function held<T> (p: Promise<T>): Promise<T> {
  const keep = setInterval(() => {}, 1000)
  try {
    return await p
  } finally {
    clearInterval(keep)
  }
}
