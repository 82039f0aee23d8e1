import type { Group, InventoryTarget, ItemSummary, Parameter, PlanDetail, TaskDetail } from '../../schemas/index.js'
import { isSecretName } from '../bolt/arguments.js'
import { REDACTED, redactSecrets, redactText } from './redaction.js'

// Bolt's discovery documents (see test/fixtures/captures/README.md, "Discovery output") as the
// API answers them. Only the fields named here pass: server paths (`files`, `module_dir`,
// `modulepath`), connection settings (`config`) and plugin hooks stay behind.

/** Bolt printed a document of another shape than the one its command prints. */
export class DocumentShapeError extends Error {
  override name = 'DocumentShapeError'
}

type Doc = Record<string, unknown>

const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v)
const text = (v: unknown): string | null => typeof v === 'string' ? v : null
const strings = (v: unknown): string[] => Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []

function field<T> (doc: Doc, key: string, check: (v: unknown) => v is T, what: string): T {
  const value = doc[key]
  if (!check(value)) throw new DocumentShapeError(`Bolt's document has no ${what} ('${key}')`)
  return value
}
const isArray = (v: unknown): v is unknown[] => Array.isArray(v)
const isString = (v: unknown): v is string => typeof v === 'string'

/** `task show` / `plan show`: `[[name, description or null], …]` under `key`. */
export function summariesFrom (doc: Doc, key: 'tasks' | 'plans'): ItemSummary[] {
  return field(doc, key, isArray, `list of ${key}`).map((entry) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') throw new DocumentShapeError(`Bolt listed ${key} in an unknown shape`)
    return { name: entry[0], description: text(entry[1]) }
  })
}

/** A parameter as declared; the default of a sensitive or secret-named one is never shown. */
function parameter (name: string, spec: unknown, defaultKey: 'default' | 'default_value'): Parameter {
  const declared = isObject(spec) ? spec : {}
  const sensitive = declared.sensitive === true
  const out: Parameter = { name, type: text(declared.type), description: text(declared.description), sensitive }
  if (Object.hasOwn(declared, defaultKey)) out.default = sensitive || isSecretName(name) ? REDACTED : declared[defaultKey]
  return out
}

function parameters (value: unknown, defaultKey: 'default' | 'default_value'): Parameter[] {
  return isObject(value) ? Object.entries(value).map(([name, spec]) => parameter(name, spec, defaultKey)) : []
}

/** `task show <name>`: `{name, files, metadata, module_dir}`; the metadata is the task's .json. */
export function taskFrom (doc: Doc): TaskDetail {
  const name = field(doc, 'name', isString, 'task name')
  const metadata = isObject(doc.metadata) ? doc.metadata : {}
  return {
    name,
    description: text(metadata.description),
    parameters: parameters(metadata.parameters, 'default'),
    supportsNoop: metadata.supports_noop === true,
    inputMethod: text(metadata.input_method),
    private: metadata.private === true
  }
}

/** `plan show <name>`: `{name, description, parameters, private, summary, docstring, module_dir}`. */
export function planFrom (doc: Doc, language: PlanDetail['language']): PlanDetail {
  return {
    name: field(doc, 'name', isString, 'plan name'),
    description: text(doc.description),
    summary: text(doc.summary),
    parameters: parameters(doc.parameters, 'default_value'),
    private: doc.private === true,
    language,
    defaultFormat: language === 'puppet' ? 'puppet-source' : 'value'
  }
}

/** One target of `inventory show --detail`, without its `config` and `plugin_hooks`. */
function targetFrom (entry: unknown): InventoryTarget {
  if (!isObject(entry) || typeof entry.name !== 'string') throw new DocumentShapeError('Bolt listed a target without a name')
  const config = isObject(entry.config) ? entry.config : {}
  const alias = typeof entry.alias === 'string' ? [entry.alias] : strings(entry.alias)
  return {
    name: redactText(entry.name),
    uri: typeof entry.uri === 'string' ? redactText(entry.uri) : null,
    alias: alias.map(redactText),
    groups: strings(entry.groups),
    transport: text(config.transport),
    features: strings(entry.features),
    facts: isObject(entry.facts) ? redactSecrets(entry.facts) as Doc : {},
    vars: isObject(entry.vars) ? redactSecrets(entry.vars) as Doc : {}
  }
}

/** `inventory show --detail`: every target, in inventory order. */
export function targetsFrom (doc: Doc): InventoryTarget[] {
  return field(doc, 'targets', isArray, 'list of targets').map(targetFrom)
}

/** `group show`: `{count, groups: [names]}`. */
export function groupsFrom (doc: Doc): Group[] {
  return strings(field(doc, 'groups', isArray, 'list of groups')).map((name) => ({ name }))
}
