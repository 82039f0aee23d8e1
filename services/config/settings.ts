import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { BOLT_ENV_ALLOWLIST } from './bolt-environment.js'

// Every setting, declared once: its environment variable, type, default, bounds and description.
// load-config.ts reads them; `npm run docs` turns them into the README's configuration table, so a
// description is written for the README's readers (Markdown, lower case, no full stop).

/**
 * Annotation keywords of our own: ignored by validation, read by the README generator.
 * `docDefault` is the Default column when the plain default would mislead.
 */
export const ANNOTATIONS = ['docDefault'] as const

const Int = (def: number, minimum: number, maximum: number, description: string) =>
  Type.Integer({ default: def, minimum, maximum, description })

const Str = (def: string, description: string, options: { minLength?: number, docDefault?: string } = {}) =>
  Type.String({ default: def, description, ...options })

const OneOf = <const T extends readonly string[]>(values: T, def: T[number], description: string) =>
  Type.Unsafe<T[number]>(Type.Union(values.map((v) => Type.Literal(v)), { default: def, description }))

export const Settings = Type.Object({
  HOST: Str('0.0.0.0', 'listen address', { minLength: 1 }),
  PORT: Int(3000, 0, 65535, 'listen port'),
  LOG_LEVEL: OneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info',
    'log level ([pino](https://getpino.io))'),
  BOLT_PATH: Str('bolt', 'the Bolt executable (on `PATH`, or a path, resolved against the working directory at ' +
    'start-up)', { minLength: 1 }),
  BOLT_PROJECT: Str('', 'Bolt project directory; must exist when set', { docDefault: '`./data/bolt-project` (created)' }),
  BOLT_ENV_PASSTHROUGH: Str('', 'extra environment variables Bolt may see, comma-separated; it always gets ' +
    `\`${BOLT_ENV_ALLOWLIST.join(' ')}\` and \`BOLT_DISABLE_ANALYTICS=1\``),
  BOLT_PROBE_INTERVAL_MS: Int(30_000, 1000, 3_600_000, 'how often readiness re-runs `bolt --version` (cached in between)'),
  BOLT_KILL_GRACE_MS: Int(5000, 100, 60_000, 'SIGTERM → SIGKILL delay for a Bolt process group'),
  MAX_CONCURRENT_EXECUTIONS: Int(10, 1, 1000, 'executions running at once; more wait in a queue'),
  MAX_QUEUED_EXECUTIONS: Int(100, 0, 100_000, 'executions waiting at most; beyond, new ones get 429 ' +
    '`BOLT_STREAM_QUEUE_FULL` with `Retry-After`'),
  EXECUTION_TIMEOUT_MS: Int(300_000, 1000, 86_400_000, 'longest an execution may run (then `timed_out`)'),
  DISCOVERY_CACHE_TTL_MS: Int(60_000, 0, 86_400_000, 'how long an answer of the discovery endpoints (`/api/tasks`, ' +
    '`/api/plans`, `/api/targets`, `/api/groups`) is reused before Bolt is asked again; `0` = never reused ' +
    '(requests arriving together still share one Bolt run)'),
  DISCOVERY_TIMEOUT_MS: Int(30_000, 1000, 3_600_000, 'longest a discovery run of Bolt (`task show`, `plan show`, ' +
    '`inventory show`, `group show`) may take; then its process group is killed and the answer is 504 ' +
    '`BOLT_STREAM_BOLT_TIMEOUT`'),
  STREAM_FLUSH_INTERVAL_MS: Int(100, 1, 10_000, 'output batching window, per stream and target'),
  STREAM_HEARTBEAT_MS: Int(15_000, 1000, 300_000, 'interval of SSE heartbeat comments'),
  RATE_LIMIT_MAX: Int(120, 1, 1_000_000, 'POST requests (start, cancel, tickets) and discovery `?refresh=true` ' +
    'requests a client (token, or address) may make per `RATE_LIMIT_WINDOW_MS`; beyond, 429 `BOLT_STREAM_RATE_LIMITED` with `Retry-After` ' +
    '([@fastify/rate-limit](https://github.com/fastify/fastify-rate-limit))'),
  RATE_LIMIT_WINDOW_MS: Int(60_000, 1000, 86_400_000, 'the window of `RATE_LIMIT_MAX`'),
  MAX_STREAMS: Int(10_000, 1, 1_000_000, 'open SSE streams in all; beyond, 429 `BOLT_STREAM_TOO_MANY_STREAMS` ' +
    'with `Retry-After`'),
  MAX_STREAMS_PER_CLIENT: Int(20, 1, 100_000, "open SSE streams per client (its token's name; in open mode its " +
    'address, as `TRUST_PROXY` allows); beyond, likewise'),
  TRUST_PROXY: Str('', 'proxies whose `X-Forwarded-For` decides the client address: `true` (any) or ' +
    'addresses/CIDR ranges, comma-separated; empty or `false` = none'),
  STREAM_MAX_BUFFERED_BYTES: Int(1_048_576, 65_536, 1_073_741_824, 'unsent bytes held for one subscriber, at most; ' +
    'what would go beyond is fed from the store as its reader takes bytes'),
  STREAM_STALL_TIMEOUT_MS: Int(30_000, 100, 600_000, 'a subscriber whose connection takes no bytes for this long ' +
    'while bytes wait for it is disconnected'),
  MAX_OUTPUT_BYTES: Int(10_485_760, 1024, 4_294_967_296, 'output bytes streamed and kept per execution, at least ' +
    '1024 (a smaller limit would cut even Bolt\'s own short messages); beyond, output is cut and the record gets ' +
    '`outputTruncated: true`'),
  STORE: OneOf(['sqlite', 'memory', 'redis'], 'sqlite', '`sqlite` (durable), `memory` (tests, throwaway runs) or ' +
    '`redis` (several replicas share history, streams, work and limits: see [Scale-out](#scale-out))'),
  REDIS_URL: Str('redis://127.0.0.1:6379', '`STORE=redis` only: the Redis server (`redis://[user:password@]host:port[/db]`, ' +
    '`rediss://` for TLS)', { minLength: 1 }),
  REDIS_KEY_PREFIX: Str('bolt-stream:', '`STORE=redis` only: prefix of every key the service writes, so deployments ' +
    'can share one Redis'),
  LEASE_TTL_MS: Int(15_000, 1000, 600_000, '`STORE=redis` only: a replica that stops renewing its executions\' leases ' +
    'for this long is taken for dead: another marks them `interrupted`'),
  DATABASE_PATH: Str('./data/bolt-stream.db', 'the SQLite file of `STORE=sqlite`; its directory is created ' +
    '(`:memory:`: a database in memory)', { minLength: 1 }),
  RETENTION_DAYS: Int(30, 1, 36_500, 'finished executions older than this are deleted'),
  RETENTION_MAX_EXECUTIONS: Int(10_000, 1, 10_000_000, 'beyond this many executions, the oldest finished are deleted'),
  RETENTION_INTERVAL_MS: Int(3_600_000, 1000, 86_400_000, 'how often the retention clean-up runs (and 5 s after start)'),
  STORE_CACHE_MAX_BYTES: Int(67_108_864, 0, 17_179_869_184, '`STORE=sqlite` only: heap bytes, at most, of the ' +
    'recent executions\' event logs kept in memory so replays skip the disk (an upper-bound estimate per ' +
    'event; `0`: no cache)'),
  HISTORY_MAX_BYTES: Int(268_435_456, 1_048_576, 68_719_476_736, '`STORE=memory` only: approximate bytes of ' +
    'history kept (oldest finished go first)'),
  SHUTDOWN_GRACE_MS: Int(20_000, 0, 3_600_000, 'time running executions get to finish on SIGTERM/SIGINT'),
  COMMAND_ALLOWLIST: Str('', 'regular expression a whole command must match (`uptime|df -h`); refused: 403 ' +
    '`BOLT_STREAM_COMMAND_NOT_ALLOWED`; empty = all allowed'),
  TASK_ALLOWLIST: Str('', 'regular expression a whole task name must match; package operations are the task ' +
    '`package`; refused: 403 `BOLT_STREAM_TASK_NOT_ALLOWED`; empty = all allowed'),
  PLAN_ALLOWLIST: Str('', 'regular expression a whole plan name must match; refused: 403 ' +
    '`BOLT_STREAM_PLAN_NOT_ALLOWED`; empty = all allowed. The command and task allowlists do not reach inside a plan'),
  AUTH_TOKENS: Str('', 'API tokens: `name scope1,scope2 sha256-hex` entries separated by newlines or `;` ' +
    '(see [Security](#security))'),
  AUTH_TOKENS_FILE: Str('', 'a file of the same entries, one per line, `#` comments; read at start-up. ' +
    'With neither set, the API is open (a warning is logged)'),
  STREAM_TICKET_TTL_MS: Int(30_000, 1000, 300_000, 'how long a stream ticket may wait to be used'),
  CORS_ORIGINS: Str('', 'allowed origins (like `https://ops.example.com`), comma-separated, or `*`; empty = no CORS'),
  PUPPET_AGENT_COMMAND: Str('puppet agent --test --color=false', 'command of a Puppet run; one line, not starting ' +
    'with `-`', { minLength: 1 }),
  METRICS_ENABLED: OneOf(['true', 'false'], 'true', 'Prometheus metrics at `GET /metrics` (see [Operations](#operations)); ' +
    '`false`: none, and nothing is counted'),
  METRICS_PORT: Int(0, 0, 65535, 'serve `/metrics` on this port instead, on its own listener (same `HOST`, no tokens); ' +
    '`0`: on `PORT`, with the `read` scope when tokens are configured'),
  SHED_MAX_EVENT_LOOP_DELAY_MS: Int(1000, 0, 60_000, 'above this mean event-loop delay, new executions and readiness ' +
    'answer 503 with `Retry-After` ([@fastify/under-pressure](https://github.com/fastify/under-pressure)); `0`: not checked'),
  SHED_MAX_HEAP_USED_BYTES: Int(0, 0, 68_719_476_736, 'the same above this much V8 heap in use; `0`: not checked'),
  SHED_MAX_RSS_BYTES: Int(0, 0, 68_719_476_736, 'the same above this resident set size; `0`: not checked'),
  SHED_SAMPLE_INTERVAL_MS: Int(1000, 10, 60_000, 'how often the load is sampled for those checks'),
  PUPPET_RUN_AS: Str('root', '`--run-as` user for Puppet runs; empty = none (for the other settings, empty ' +
    'means the default)'),
  VIEWER_DIR: Str('', 'directory of the built browser viewer (`npm run build` makes it); its pages answer 503 ' +
    'until it holds an `index.html`', { docDefault: '`ui/dist` of the install' }),
  DEMO_MODE: OneOf(['false', 'true'], 'false', '`true` shows every page of the viewer a banner saying commands run ' +
    'on this machine through a Bolt stand-in (`npm run demo` sets it); `/api/info` reports it')
})

/** The settings as read: integers are numbers, choices their literal types. */
export type SettingValues = Static<typeof Settings>
export type SettingName = keyof SettingValues & string

export const SETTING_NAMES = Object.keys(Settings.properties) as SettingName[]

/** The schema of one setting, as the loader and the README generator read it. */
export interface SettingSchema {
  type?: string
  default: string | number
  minimum?: number
  maximum?: number
  minLength?: number
  description: string
  docDefault?: string
  anyOf?: Array<{ const: string }>
}

export function settingSchema (name: SettingName): SettingSchema {
  return (Settings.properties[name] as TSchema) as unknown as SettingSchema
}

/** The values a choice setting takes, or undefined. */
export function choices (schema: SettingSchema): string[] | undefined {
  return schema.anyOf?.map((s) => s.const)
}

/** UPPER_SNAKE → camelCase, as the type below does it. */
export type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Lowercase<Head>}${Capitalize<CamelCase<Tail>>}`
  : Lowercase<S>

export function camelCase<S extends string> (name: S): CamelCase<S> {
  return name.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()) as CamelCase<S>
}

/** Every setting under its camelCase name, with the type it is read as. */
export type CamelSettings = { [K in SettingName as CamelCase<K>]: SettingValues[K] }
