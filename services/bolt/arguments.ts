import { InvalidInputError, ParamsTooDeepError } from '../errors.js'
import { MAX_PARAMS_DEPTH, MAX_TAGS, MAX_TARGETS, PACKAGE_ACTIONS, type ExecutionType, type PackageAction } from '../../schemas/index.js'
import {
  isValidCommand, isValidEnvironment, isValidPackageToken, isValidTag, isValidTarget, isValidTaskName, isValidTaskParamName
} from './input-rules.js'

export type OperationSpec =
  | { type: 'command', targets: string[], command: string }
  | { type: 'task', targets: string[], task: string, params?: Record<string, unknown> }
  /** `targets` empty: no --targets (the plan takes its targets from its parameters, or needs none). */
  | { type: 'plan', targets: string[], plan: string, params?: Record<string, unknown> }
  | { type: 'puppet', targets: string[], noop?: boolean, environment?: string, tags?: string[] }
  | { type: 'package', targets: string[], name: string, action?: PackageAction, version?: string }

export interface BoltArgsOptions {
  projectDir: string
  /** e.g. `puppet agent --test --color=false`, run through `bolt command run`. */
  puppetAgentCommand: string
  /** `--run-as` user for Puppet runs; null for none. */
  puppetRunAs: string | null
}

export interface BoltInvocation {
  type: ExecutionType
  /** What the record calls the action: the command, the task, `puppet agent` or the package name. */
  action: string
  args: string[]
  /** The command line for display, with secrets redacted. */
  display: string
}

function fail (message: string): never {
  throw new InvalidInputError(message)
}

// The schemas reject all of this already; checking again here keeps the builder safe on its own.
function checkTargets (targets: string[]): string {
  if (!Array.isArray(targets) || targets.length === 0 || targets.length > MAX_TARGETS) {
    fail(`targets must hold 1 to ${MAX_TARGETS} names`)
  }
  for (const t of targets) {
    if (typeof t !== 'string' || !isValidTarget(t)) fail(`invalid target '${String(t)}'`)
  }
  return `--targets=${targets.join(',')}`
}

function commonArgs (options: BoltArgsOptions): string[] {
  return ['--format=json', '--stream', '--no-color', '--no-save-rerun', `--project=${options.projectDir}`]
}

export function buildBoltInvocation (spec: OperationSpec, options: BoltArgsOptions): BoltInvocation {
  if (spec.type === 'plan') return planInvocation(spec, options)
  const targets = checkTargets(spec.targets)
  const common = commonArgs(options)
  switch (spec.type) {
    case 'command': {
      if (typeof spec.command !== 'string' || !isValidCommand(spec.command)) {
        fail('command must be 1 to 8192 characters, not start with "-" or "@", and contain no NUL')
      }
      const args = ['command', 'run', ...common, targets, '--', spec.command]
      // The record keeps the command as shown: secrets in it are redacted there too.
      return { type: 'command', action: redactCommand(spec.command), args, display: displayCommandLine(args) }
    }
    case 'task': {
      if (!isValidTaskName(spec.task)) fail(`invalid task name '${spec.task}'`)
      const params = checkedParams(spec.params)
      const args = ['task', 'run', ...common, targets, `--params=${JSON.stringify(params)}`, '--', spec.task]
      const shown = ['task', 'run', ...common, targets, `--params=${JSON.stringify(redactParams(params))}`, '--', spec.task]
      return { type: 'task', action: spec.task, args, display: displayCommandLine(shown) }
    }
    case 'puppet': {
      let agent = options.puppetAgentCommand
      if (spec.noop === true) agent += ' --noop'
      if (spec.environment !== undefined) {
        if (!isValidEnvironment(spec.environment)) fail(`invalid environment '${spec.environment}'`)
        agent += ` --environment=${spec.environment}`
      }
      if (spec.tags !== undefined && spec.tags.length > 0) {
        if (spec.tags.length > MAX_TAGS) fail(`at most ${MAX_TAGS} tags`)
        for (const tag of spec.tags) if (!isValidTag(tag)) fail(`invalid tag '${tag}'`)
        agent += ` --tags=${spec.tags.join(',')}`
      }
      const runAs = options.puppetRunAs === null ? [] : [`--run-as=${options.puppetRunAs}`]
      const args = ['command', 'run', ...common, targets, ...runAs, '--', agent]
      return { type: 'puppet', action: 'puppet agent', args, display: displayCommandLine(args) }
    }
    case 'package': {
      const action = spec.action ?? 'install'
      if (!PACKAGE_ACTIONS.includes(action)) fail(`invalid package action '${String(action)}'`)
      if (!isValidPackageToken(spec.name)) fail(`invalid package name '${spec.name}'`)
      if (spec.version !== undefined && !isValidPackageToken(spec.version)) fail(`invalid package version '${spec.version}'`)
      const params: Record<string, string> = { action, name: spec.name }
      if (spec.version !== undefined) params.version = spec.version
      const args = ['task', 'run', ...common, targets, `--params=${JSON.stringify(params)}`, '--', 'package']
      return { type: 'package', action: spec.name, args, display: displayCommandLine(args) }
    }
  }
}

function planInvocation (spec: Extract<OperationSpec, { type: 'plan' }>, options: BoltArgsOptions): BoltInvocation {
  if (!isValidTaskName(spec.plan)) fail(`invalid plan name '${spec.plan}'`)
  const targets = spec.targets.length === 0 ? [] : [checkTargets(spec.targets)]
  const params = checkedParams(spec.params)
  const head = ['plan', 'run', ...commonArgs(options), ...targets]
  const args = [...head, `--params=${JSON.stringify(params)}`, '--', spec.plan]
  const shown = [...head, `--params=${JSON.stringify(redactParams(params))}`, '--', spec.plan]
  return { type: 'plan', action: spec.plan, args, display: displayCommandLine(shown) }
}

/** Task and plan parameters: an object of well-named keys, bounded in depth, JSON-representable. */
function checkedParams (given: Record<string, unknown> | undefined): Record<string, unknown> {
  const params = given ?? {}
  if (typeof params !== 'object' || params === null || Array.isArray(params)) fail('params must be an object')
  for (const key of Object.keys(params)) {
    if (!isValidTaskParamName(key)) fail(`invalid parameter name '${key}'`)
  }
  // Before any other walk over them (redaction, JSON.stringify): their depth is bounded here.
  checkParamValues(params)
  return params
}

const SECRET_NAME = /pass(word|wd|phrase)?|secret|token|api_?key|private_?key|credential/i

/** A key whose value is a secret; `-` reads as `_`, so Bolt's own spelling (`private-key`) is caught too. */
export function isSecretName (key: string): boolean {
  return SECRET_NAME.test(key.replaceAll('-', '_'))
}

/** A secret value as written in a shell command: quoted, or up to the next blank. */
const VALUE = String.raw`('[^']*'|"[^"]*"|[^\s'"]+)`
// Secrets inside a command string, each kept up to and including its marker:
const SECRET_PATTERNS = [
  // `--password=x`, `--sudo-password x`, `--api-key 'x'`;
  new RegExp(String.raw`((?:^|\s)--?[\w-]*(?:pass(?:word|wd|phrase)?|secret|token|api[_-]?key)[\w-]*(?:=|\s+))` + VALUE, 'gi'),
  // `MYSQL_PWD=x mysql`, `export GITHUB_TOKEN=x` (shell assignments to secret-named variables);
  new RegExp(String.raw`((?:^|[\s;&|(])\w*(?:pass(?:word|wd|phrase)?|pwd|secret|token|api_?key)\w*=)` + VALUE, 'gi'),
  // `https://user:x@host` (a URL's password);
  /([a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*:)([^\s@/'"]+)(?=@)/gi,
  // `-H "Authorization: Bearer x"`.
  /(authorization:\s*(?:[a-z]+\s+)?)([^\s'"]+)/gi
]

/**
 * Walks the params without recursion (a body can nest thousands of levels within its 64 KiB):
 * refuses nesting beyond MAX_PARAMS_DEPTH, and numbers JSON cannot carry (1e999 parses as
 * Infinity, which JSON.stringify would turn into null: refused rather than changed).
 */
function checkParamValues (params: object): void {
  const stack: Array<[unknown, number]> = [[params, 1]]
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!
    if (typeof value === 'number' && !Number.isFinite(value)) fail('params hold a number JSON cannot represent (out of range)')
    if (typeof value !== 'object' || value === null) continue
    if (depth > MAX_PARAMS_DEPTH) throw new ParamsTooDeepError(MAX_PARAMS_DEPTH)
    for (const inner of Object.values(value)) stack.push([inner, depth + 1])
  }
}

/** Recursive, on params checkParamValues has bounded to MAX_PARAMS_DEPTH levels. */
export function redactParams (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactParams)
  if (typeof value !== 'object' || value === null) return value
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value)) out[key] = isSecretName(key) ? '[REDACTED]' : redactParams(inner)
  return out
}

export function redactCommand (text: string): string {
  let shown = text
  for (const pattern of SECRET_PATTERNS) shown = shown.replace(pattern, '$1[REDACTED]')
  return shown
}

function shellQuote (arg: string): string {
  return /^[A-Za-z0-9_/.,:=@%+-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`
}

export function displayCommandLine (args: string[]): string {
  return ['bolt', ...args].map((a) => shellQuote(redactCommand(a))).join(' ')
}
