import { existsSync, readFileSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import { isAbsolute, resolve } from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { checkTokenList, parseTokenList, TokenListError, type TokenEntry } from '../auth/tokens.js'
import { ConfigError } from '../errors.js'

// Configuration from environment variables. Every value is checked at start-up; a bad one
// stops the service with a message naming the setting.

const Int = (def: number, min: number, max: number, description: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description })

export const EnvSchema = Type.Object({
  HOST: Type.String({ default: '0.0.0.0', minLength: 1, description: 'Address to listen on' }),
  PORT: Int(3000, 0, 65535, 'Port to listen on'),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'pino log level' }),
  BOLT_PATH: Type.String({ default: 'bolt', minLength: 1, description: 'The Bolt executable (name on PATH or a path)' }),
  BOLT_PROJECT: Type.String({ default: '', description: 'Bolt project directory; empty = ./data/bolt-project, created' }),
  BOLT_ENV_PASSTHROUGH: Type.String({ default: '', description: 'Comma-separated extra environment variables passed to Bolt' }),
  BOLT_PROBE_INTERVAL_MS: Int(30_000, 1000, 3_600_000, 'How often readiness re-checks `bolt --version`'),
  BOLT_KILL_GRACE_MS: Int(5000, 100, 60_000, 'Time between SIGTERM and SIGKILL of a Bolt process group'),
  MAX_CONCURRENT_EXECUTIONS: Int(10, 1, 1000, 'Executions running at once; more wait in a queue'),
  MAX_QUEUED_EXECUTIONS: Int(100, 0, 100_000, 'Executions waiting at most; beyond, new ones get 429'),
  EXECUTION_TIMEOUT_MS: Int(300_000, 1000, 86_400_000, 'Longest an execution may run'),
  STREAM_FLUSH_INTERVAL_MS: Int(100, 1, 10_000, 'Output batching window per stream and target'),
  STREAM_HEARTBEAT_MS: Int(15_000, 1000, 300_000, 'Interval of SSE heartbeat comments'),
  RATE_LIMIT_MAX: Int(120, 1, 1_000_000, 'POST requests a client may make per RATE_LIMIT_WINDOW_MS'),
  RATE_LIMIT_WINDOW_MS: Int(60_000, 1000, 86_400_000, 'Window of RATE_LIMIT_MAX'),
  MAX_STREAMS: Int(10_000, 1, 1_000_000, 'Open SSE streams in all'),
  MAX_STREAMS_PER_CLIENT: Int(20, 1, 100_000, 'Open SSE streams per client (its token name; in open mode its address, as TRUST_PROXY allows)'),
  TRUST_PROXY: Type.String({ default: '', description: 'Proxies whose X-Forwarded-For is believed: true (any), or addresses/CIDRs, comma-separated; empty = none' }),
  STREAM_MAX_BUFFERED_BYTES: Int(1_048_576, 65_536, 1_073_741_824, 'Unsent bytes held for one subscriber; beyond, it catches up from the store'),
  STREAM_STALL_TIMEOUT_MS: Int(10_000, 100, 600_000, 'How long a backlogged subscriber may take to drain before it is disconnected'),
  MAX_OUTPUT_BYTES: Int(10_485_760, 1024, 4_294_967_296, 'Output bytes streamed and kept per execution'),
  STORE: Type.Union([Type.Literal('sqlite'), Type.Literal('memory')], { default: 'sqlite', description: 'Where history is kept' }),
  DATABASE_PATH: Type.String({ default: './data/bolt-stream.db', minLength: 1, description: 'SQLite database file (directory created)' }),
  RETENTION_DAYS: Int(30, 1, 36_500, 'Days a finished execution is kept'),
  RETENTION_MAX_EXECUTIONS: Int(10_000, 1, 10_000_000, 'Executions kept at most; the oldest finished go first'),
  RETENTION_INTERVAL_MS: Int(3_600_000, 1000, 86_400_000, 'How often the retention clean-up runs'),
  HISTORY_MAX_BYTES: Int(268_435_456, 1_048_576, 68_719_476_736, 'Approximate bytes of history the memory store keeps'),
  SHUTDOWN_GRACE_MS: Int(20_000, 0, 3_600_000, 'Time running executions get to finish on shutdown'),
  COMMAND_ALLOWLIST: Type.String({ default: '', description: 'Regular expression a whole command must match; empty = all allowed' }),
  TASK_ALLOWLIST: Type.String({ default: '', description: 'Regular expression a whole task name must match (package runs are the task "package"); empty = all allowed' }),
  AUTH_TOKENS: Type.String({ default: '', description: 'API tokens: `name scope1,scope2 sha256-hex` entries separated by newlines or `;`; with none (and no file), the API is open' }),
  AUTH_TOKENS_FILE: Type.String({ default: '', description: 'File of API tokens, one `name scopes sha256-hex` per line (# comments); read at start-up' }),
  STREAM_TICKET_TTL_MS: Int(30_000, 1000, 300_000, 'How long a stream ticket may wait to be used'),
  CORS_ORIGINS: Type.String({ default: '', description: 'Comma-separated allowed origins; empty = no CORS' }),
  PUPPET_AGENT_COMMAND: Type.String({ default: 'puppet agent --test --color=false', minLength: 1, description: 'Command run for Puppet runs' }),
  PUPPET_RUN_AS: Type.String({ default: 'root', description: 'User for `--run-as` on Puppet runs; empty = none' })
}, { additionalProperties: true })

type Env = Static<typeof EnvSchema>

export interface Config {
  host: string
  port: number
  logLevel: string
  boltPath: string
  boltProject: string
  /** The project directory is ours to create. */
  boltProjectIsDefault: boolean
  boltEnvPassthrough: string[]
  boltProbeIntervalMs: number
  boltKillGraceMs: number
  maxConcurrentExecutions: number
  maxQueuedExecutions: number
  executionTimeoutMs: number
  streamFlushIntervalMs: number
  streamHeartbeatMs: number
  rateLimitMax: number
  rateLimitWindowMs: number
  maxStreams: number
  maxStreamsPerClient: number
  /** As Fastify's `trustProxy` takes it. */
  trustProxy: boolean | string
  streamMaxBufferedBytes: number
  streamStallTimeoutMs: number
  maxOutputBytes: number
  store: 'sqlite' | 'memory'
  databasePath: string
  retentionDays: number
  retentionMaxExecutions: number
  retentionIntervalMs: number
  historyMaxBytes: number
  shutdownGraceMs: number
  /** Anchored: the whole command must match. Null = every command is allowed. */
  commandAllowlist: RegExp | null
  taskAllowlist: RegExp | null
  /** API tokens (hashes only); empty = open mode. */
  authTokens: TokenEntry[]
  /** Where the tokens came from, for the start-up log. */
  authSources: string[]
  streamTicketTtlMs: number
  corsOrigins: string[]
  puppetAgentCommand: string
  puppetRunAs: string | null
}

const NAMES = Object.keys(EnvSchema.properties) as Array<keyof Env>

/** Reads the configuration; throws ConfigError naming the first bad setting. */
export function loadConfig (env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const raw: Record<string, unknown> = {}
  for (const name of NAMES) {
    const value = env[name]
    // Empty means "default", except where empty is itself a choice.
    if (value === undefined || (value === '' && name !== 'PUPPET_RUN_AS')) continue
    raw[name] = value.trim()
    const schema = EnvSchema.properties[name] as unknown as { type?: string, minimum?: number, maximum?: number }
    // TypeBox would turn '1.5' or '1e3' into 1; a setting must say exactly what it means.
    if (schema.type === 'integer' && !/^-?\d+$/.test(value.trim())) {
      throw new ConfigError(`${name} must be a whole number from ${schema.minimum} to ${schema.maximum} (got ${JSON.stringify(value)})`)
    }
  }
  const converted = Value.Convert(EnvSchema, Value.Default(EnvSchema, { ...raw })) as Env
  const first = Value.Errors(EnvSchema, converted).First()
  if (first !== undefined) {
    const name = first.path.replace(/^\//, '')
    const got = raw[name] === undefined ? '' : ` (got ${JSON.stringify(raw[name])})`
    const schema = EnvSchema.properties[name as keyof Env] as unknown as { minimum?: number, maximum?: number, type?: string } | undefined
    throw new ConfigError(`${name} ${describe(schema, first.message)}${got}`)
  }
  const e = converted

  const boltProjectIsDefault = e.BOLT_PROJECT === ''
  const boltProject = resolve(cwd, boltProjectIsDefault ? 'data/bolt-project' : e.BOLT_PROJECT)
  if (!boltProjectIsDefault && (!existsSync(boltProject) || !statSync(boltProject).isDirectory())) {
    throw new ConfigError(`BOLT_PROJECT ${JSON.stringify(e.BOLT_PROJECT)} is not an existing directory`)
  }
  if (!isAbsolute(e.BOLT_PATH) && e.BOLT_PATH.includes('/')) {
    // Relative paths are resolved once, so a changed working directory cannot change the binary.
    e.BOLT_PATH = resolve(cwd, e.BOLT_PATH)
  }
  const passthrough = list(e.BOLT_ENV_PASSTHROUGH)
  for (const name of passthrough) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ConfigError(`BOLT_ENV_PASSTHROUGH has an invalid variable name ${JSON.stringify(name)}`)
  }
  const origins = list(e.CORS_ORIGINS)
  for (const origin of origins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(`CORS_ORIGINS entry ${JSON.stringify(origin)} is not an origin like https://ops.example.com`)
    }
  }
  if (/[\0\n\r]/.test(e.PUPPET_AGENT_COMMAND) || e.PUPPET_AGENT_COMMAND.startsWith('-')) {
    throw new ConfigError('PUPPET_AGENT_COMMAND must be one line and must not start with "-"')
  }
  if (e.PUPPET_RUN_AS !== '' && !/^[a-z_][a-z0-9_.-]*$/i.test(e.PUPPET_RUN_AS)) {
    throw new ConfigError(`PUPPET_RUN_AS ${JSON.stringify(e.PUPPET_RUN_AS)} is not a user name`)
  }
  const { tokens: authTokens, sources: authSources } = readTokens(e.AUTH_TOKENS, e.AUTH_TOKENS_FILE, cwd)
  return {
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    boltPath: e.BOLT_PATH,
    boltProject,
    boltProjectIsDefault,
    boltEnvPassthrough: passthrough,
    boltProbeIntervalMs: e.BOLT_PROBE_INTERVAL_MS,
    boltKillGraceMs: e.BOLT_KILL_GRACE_MS,
    maxConcurrentExecutions: e.MAX_CONCURRENT_EXECUTIONS,
    maxQueuedExecutions: e.MAX_QUEUED_EXECUTIONS,
    executionTimeoutMs: e.EXECUTION_TIMEOUT_MS,
    streamFlushIntervalMs: e.STREAM_FLUSH_INTERVAL_MS,
    streamHeartbeatMs: e.STREAM_HEARTBEAT_MS,
    rateLimitMax: e.RATE_LIMIT_MAX,
    rateLimitWindowMs: e.RATE_LIMIT_WINDOW_MS,
    maxStreams: e.MAX_STREAMS,
    maxStreamsPerClient: e.MAX_STREAMS_PER_CLIENT,
    trustProxy: trustProxy(e.TRUST_PROXY),
    streamMaxBufferedBytes: e.STREAM_MAX_BUFFERED_BYTES,
    streamStallTimeoutMs: e.STREAM_STALL_TIMEOUT_MS,
    maxOutputBytes: e.MAX_OUTPUT_BYTES,
    store: e.STORE as 'sqlite' | 'memory',
    databasePath: e.DATABASE_PATH === ':memory:' ? ':memory:' : resolve(cwd, e.DATABASE_PATH),
    retentionDays: e.RETENTION_DAYS,
    retentionMaxExecutions: e.RETENTION_MAX_EXECUTIONS,
    retentionIntervalMs: e.RETENTION_INTERVAL_MS,
    historyMaxBytes: e.HISTORY_MAX_BYTES,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    commandAllowlist: allowlist('COMMAND_ALLOWLIST', e.COMMAND_ALLOWLIST),
    taskAllowlist: allowlist('TASK_ALLOWLIST', e.TASK_ALLOWLIST),
    authTokens,
    authSources,
    streamTicketTtlMs: e.STREAM_TICKET_TTL_MS,
    corsOrigins: origins,
    puppetAgentCommand: e.PUPPET_AGENT_COMMAND,
    puppetRunAs: e.PUPPET_RUN_AS === '' ? null : e.PUPPET_RUN_AS
  }
}

function readTokens (inline: string, file: string, cwd: string): { tokens: TokenEntry[], sources: string[] } {
  const tokens: TokenEntry[] = []
  const sources: string[] = []
  try {
    if (inline !== '') {
      const fromEnv = parseTokenList(inline, 'AUTH_TOKENS')
      if (fromEnv.length === 0) throw new TokenListError('AUTH_TOKENS is set but has no token entries')
      tokens.push(...fromEnv)
      sources.push('AUTH_TOKENS')
    }
    if (file !== '') {
      const path = resolve(cwd, file)
      let text: string
      try {
        text = readFileSync(path, 'utf8')
      } catch (err) {
        throw new TokenListError(`AUTH_TOKENS_FILE ${JSON.stringify(file)} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
      }
      const fromFile = parseTokenList(text, 'AUTH_TOKENS_FILE')
      // A file that names no token would silently open the API: refuse it.
      if (fromFile.length === 0) throw new TokenListError(`AUTH_TOKENS_FILE ${JSON.stringify(file)} has no token entries`)
      tokens.push(...fromFile)
      sources.push(`AUTH_TOKENS_FILE (${path})`)
    }
    checkTokenList(tokens)
  } catch (err) {
    if (err instanceof TokenListError) throw new ConfigError(err.message)
    throw err
  }
  return { tokens, sources }
}

function trustProxy (value: string): boolean | string {
  if (value === '' || value === 'false') return false
  if (value === 'true') return true
  for (const entry of list(value)) {
    const [address, bits, extra] = entry.split('/')
    const version = isIP(address)
    const maxBits = version === 6 ? 128 : 32
    if (version === 0 || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits))) {
      throw new ConfigError(`TRUST_PROXY entry ${JSON.stringify(entry)} is not true, an address or a CIDR range`)
    }
  }
  return list(value).join(',')
}

function allowlist (name: string, pattern: string): RegExp | null {
  if (pattern === '') return null
  try {
    return new RegExp(`^(?:${pattern})$`, 'u')
  } catch (err) {
    throw new ConfigError(`${name} is not a valid regular expression: ${(err as Error).message}`)
  }
}

function list (value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
}

function describe (schema: { minimum?: number, maximum?: number, type?: string } | undefined, fallback: string): string {
  if (schema?.type === 'integer') return `must be a whole number from ${schema.minimum} to ${schema.maximum}`
  if (schema !== undefined && 'anyOf' in schema) {
    return `must be one of ${(schema.anyOf as Array<{ const: string }>).map((s) => s.const).join(', ')}`
  }
  return fallback.toLowerCase()
}

/** Settings with their defaults, for the README and `--help`-like output. */
export function configDefaults (): Record<string, unknown> {
  return Value.Default(EnvSchema, {}) as Record<string, unknown>
}
