import { existsSync, readFileSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import { isAbsolute, join, resolve } from 'node:path'
import { Ajv, type ErrorObject } from 'ajv'
import envSchema from 'env-schema'
import { checkTokenList, parseTokenList, TokenListError, type TokenEntry } from '../auth/tokens.js'
import { ConfigError } from '../errors.js'
import { boltEnvironment } from './bolt-environment.js'
import { packageRoot } from './package-root.js'
import {
  ANNOTATIONS, camelCase, choices, SETTING_NAMES, settingSchema, Settings,
  type CamelSettings, type SettingName, type SettingValues
} from './settings.js'

// Configuration from environment variables (declared in settings.ts). Every value is checked at
// start-up; a bad one stops the service with a message naming the setting. This is the one place
// that reads the environment: the rest of the service, Bolt's environment included, gets a Config.

/** Settings whose value is turned into something else (or left out) on the way to Config. */
type Derived = 'boltEnvPassthrough' | 'trustProxy' | 'commandAllowlist' | 'taskAllowlist' | 'planAllowlist' | 'authTokens' |
  'authTokensFile' | 'corsOrigins' | 'puppetRunAs' | 'viewerDir' | 'demoMode' | 'metricsEnabled'

/** Every setting under its camelCase name (settings.ts), with the derived values below in place of their text. */
export interface Config extends Omit<CamelSettings, Derived> {
  /** A relative path holding a `/` is resolved against the working directory. */
  boltPath: string
  /** Absolute; `./data/bolt-project` under the working directory when BOLT_PROJECT is empty. */
  boltProject: string
  /** The project directory is ours to create. */
  boltProjectIsDefault: boolean
  boltEnvPassthrough: string[]
  /** The whole environment of a Bolt process (allowlist, BOLT_ENV_PASSTHROUGH, BOLT_DISABLE_ANALYTICS). */
  boltEnv: Record<string, string>
  /** As Fastify's `trustProxy` takes it. */
  trustProxy: boolean | string
  /** Absolute, or `:memory:`. */
  databasePath: string
  /** Anchored: the whole command must match. Null = every command is allowed. */
  commandAllowlist: RegExp | null
  taskAllowlist: RegExp | null
  planAllowlist: RegExp | null
  /** API tokens (hashes only); empty = open mode. */
  authTokens: TokenEntry[]
  /** Where the tokens came from, for the start-up log. */
  authSources: string[]
  corsOrigins: string[]
  /** Null = no `--run-as`. */
  puppetRunAs: string | null
  /** Absolute; the built viewer (ui/dist of the install when VIEWER_DIR is empty). */
  viewerDir: string
  demoMode: boolean
  metricsEnabled: boolean
}

// Our own instance: the first error only (settings are checked in their declared order), and
// the README annotations of settings.ts known as keywords.
const ajv = new Ajv({ allErrors: false, removeAdditional: true, useDefaults: true, coerceTypes: true })
ajv.addVocabulary([...ANNOTATIONS])
const SCHEMA = { ...Settings, additionalProperties: false }

/** Reads the configuration; throws ConfigError naming the first bad setting. */
export function loadConfig (env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const values = readSettings(env)
  const boltProject = projectDirectory(values.BOLT_PROJECT, cwd)
  const boltEnvPassthrough = variableNames(values.BOLT_ENV_PASSTHROUGH)
  const corsOrigins = origins(values.CORS_ORIGINS)
  checkPuppet(values.PUPPET_AGENT_COMMAND, values.PUPPET_RUN_AS)
  checkRedisUrl(values.REDIS_URL)
  const { tokens: authTokens, sources: authSources } = readTokens(values.AUTH_TOKENS, values.AUTH_TOKENS_FILE, cwd)
  const { authTokensFile: _file, ...plain } = camelCaseSettings(values)
  return {
    ...plain,
    boltPath: executablePath(values.BOLT_PATH, cwd),
    boltProject: boltProject.path,
    boltProjectIsDefault: boltProject.isDefault,
    boltEnvPassthrough,
    boltEnv: boltEnvironment(env, boltEnvPassthrough),
    trustProxy: trustProxy(values.TRUST_PROXY),
    databasePath: values.DATABASE_PATH === ':memory:' ? ':memory:' : resolve(cwd, values.DATABASE_PATH),
    commandAllowlist: allowlist('COMMAND_ALLOWLIST', values.COMMAND_ALLOWLIST),
    taskAllowlist: allowlist('TASK_ALLOWLIST', values.TASK_ALLOWLIST),
    planAllowlist: allowlist('PLAN_ALLOWLIST', values.PLAN_ALLOWLIST),
    authTokens,
    authSources,
    corsOrigins,
    puppetRunAs: values.PUPPET_RUN_AS === '' ? null : values.PUPPET_RUN_AS,
    viewerDir: values.VIEWER_DIR === '' ? join(packageRoot(), 'ui', 'dist') : resolve(cwd, values.VIEWER_DIR),
    demoMode: values.DEMO_MODE === 'true',
    metricsEnabled: values.METRICS_ENABLED === 'true'
  }
}

/** The settings of `env`, trimmed, checked against the schema, with defaults for those unset. */
function readSettings (env: NodeJS.ProcessEnv): SettingValues {
  const raw: Record<string, string> = {}
  for (const name of SETTING_NAMES) {
    const value = env[name]
    // Empty means "default", except where empty is itself a choice.
    if (value === undefined || (value === '' && name !== 'PUPPET_RUN_AS')) continue
    raw[name] = value.trim()
    const schema = settingSchema(name)
    // Ajv would read '1e3' or '0x50' as a number; a setting must say exactly what it means.
    if (schema.type === 'integer' && !/^-?\d+$/.test(raw[name])) {
      throw new ConfigError(`${name} ${describe(name)} (got ${JSON.stringify(value)})`)
    }
  }
  try {
    return envSchema<SettingValues>({ schema: SCHEMA, data: { ...raw }, env: false, dotenv: false, ajv })
  } catch (err) {
    const first = (err as { errors?: ErrorObject[] }).errors?.[0]
    if (first === undefined) throw err
    const name = first.instancePath.split('/')[1] as SettingName
    const got = raw[name] === undefined ? '' : ` (got ${JSON.stringify(raw[name])})`
    throw new ConfigError(`${name} ${describe(name, first)}${got}`)
  }
}

/** What a setting must be, for an error message. */
function describe (name: SettingName, error?: ErrorObject): string {
  const schema = settingSchema(name)
  const values = choices(schema)
  if (schema.type === 'integer') return `must be a whole number from ${schema.minimum} to ${schema.maximum}`
  if (values !== undefined) return `must be one of ${values.join(', ')}`
  if (error?.keyword === 'minLength') return `expected string length greater or equal to ${schema.minLength}`
  return error?.message ?? 'is invalid'
}

function camelCaseSettings (values: SettingValues): CamelSettings {
  return Object.fromEntries(SETTING_NAMES.map((name) => [camelCase(name), values[name]])) as CamelSettings
}

function projectDirectory (value: string, cwd: string): { path: string, isDefault: boolean } {
  const isDefault = value === ''
  const path = resolve(cwd, isDefault ? 'data/bolt-project' : value)
  if (!isDefault && (!existsSync(path) || !statSync(path).isDirectory())) {
    throw new ConfigError(`BOLT_PROJECT ${JSON.stringify(value)} is not an existing directory`)
  }
  return { path, isDefault }
}

function executablePath (value: string, cwd: string): string {
  // Relative paths are resolved once, so a changed working directory cannot change the binary.
  return !isAbsolute(value) && value.includes('/') ? resolve(cwd, value) : value
}

function variableNames (value: string): string[] {
  const names = list(value)
  for (const name of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ConfigError(`BOLT_ENV_PASSTHROUGH has an invalid variable name ${JSON.stringify(name)}`)
  }
  return names
}

function origins (value: string): string[] {
  const entries = list(value)
  for (const origin of entries) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(`CORS_ORIGINS entry ${JSON.stringify(origin)} is not an origin like https://ops.example.com`)
    }
  }
  return entries
}

function checkPuppet (agentCommand: string, runAs: string): void {
  if (/[\0\n\r]/.test(agentCommand) || agentCommand.startsWith('-')) {
    throw new ConfigError('PUPPET_AGENT_COMMAND must be one line and must not start with "-"')
  }
  if (runAs !== '' && !/^[a-z_][a-z0-9_.-]*$/i.test(runAs)) {
    throw new ConfigError(`PUPPET_RUN_AS ${JSON.stringify(runAs)} is not a user name`)
  }
}

function checkRedisUrl (url: string): void {
  // Never echoed back: it may hold a password.
  if (!/^rediss?:\/\/[^\s]*$/.test(url) || !URL.canParse(url)) throw new ConfigError('REDIS_URL must be a redis:// or rediss:// URL')
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
      tokens.push(...readTokenFile(path, file))
      sources.push(`AUTH_TOKENS_FILE (${path})`)
    }
    checkTokenList(tokens)
  } catch (err) {
    if (err instanceof TokenListError) throw new ConfigError(err.message)
    throw err
  }
  return { tokens, sources }
}

function readTokenFile (path: string, file: string): TokenEntry[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new TokenListError(`AUTH_TOKENS_FILE ${JSON.stringify(file)} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const entries = parseTokenList(text, 'AUTH_TOKENS_FILE')
  // A file that names no token would silently open the API: refuse it.
  if (entries.length === 0) throw new TokenListError(`AUTH_TOKENS_FILE ${JSON.stringify(file)} has no token entries`)
  return entries
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

/** Settings with their defaults, for the README and `--help`-like output. */
export function configDefaults (): Record<string, unknown> {
  return Object.fromEntries(SETTING_NAMES.map((name) => [name, settingSchema(name).default]))
}
