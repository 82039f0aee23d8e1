import { Type, type Static } from '@sinclair/typebox'
import { ErrorRef, errorResponses, literals, Nullable, ref } from './common.js'
import { TASK_NAME_PATTERN } from './input-rules.js'

// What Bolt knows about the project: tasks, plans, inventory targets and groups (`bolt … show`),
// as the discovery endpoints answer it. Server paths (files, module_dir, modulepath) and
// connection settings never appear here.

/** A task or plan name in the path: the same rule as a task to run. */
export const DiscoveryNameParams = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256, pattern: TASK_NAME_PATTERN, description: 'module::name' })
})
export type DiscoveryNameParams = Static<typeof DiscoveryNameParams>

export const RefreshQuery = Type.Object({
  refresh: Type.Optional(Type.Boolean({ description: 'Ask Bolt again instead of using the cached answer (counted by the rate limiter)' }))
}, { additionalProperties: false })
export type RefreshQuery = Static<typeof RefreshQuery>

/** Bolt's group names are plain words; this one never reaches Bolt (the inventory is filtered here). */
export const GROUP_NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.-]*$'

export const TargetsQuery = Type.Object({
  group: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: GROUP_NAME_PATTERN, description: 'Only the targets of this group' })),
  refresh: RefreshQuery.properties.refresh
}, { additionalProperties: false })
export type TargetsQuery = Static<typeof TargetsQuery>

export const ItemSummary = Type.Object({
  name: Type.String(),
  description: Nullable(Type.String())
}, { $id: 'ItemSummary', description: 'A task or plan as Bolt lists it' })
export type ItemSummary = Static<typeof ItemSummary>

export const Parameter = Type.Object({
  name: Type.String(),
  type: Nullable(Type.String(), 'The Puppet type as written (`Optional[String]`); null when not declared'),
  description: Nullable(Type.String()),
  default: Type.Optional(Type.Unknown({
    description: 'Absent when there is none. Tasks: the value. Plans: see the plan\'s `defaultFormat`. ' +
      '`[REDACTED]` for sensitive or secret-named parameters'
  })),
  sensitive: Type.Boolean()
}, { $id: 'Parameter' })
export type Parameter = Static<typeof Parameter>

export const TaskDetail = Type.Object({
  name: Type.String(),
  description: Nullable(Type.String()),
  parameters: Type.Array(ref(Parameter), { description: 'In the order of the metadata' }),
  supportsNoop: Type.Boolean({ description: 'The task accepts `--noop` (metadata `supports_noop`)' }),
  inputMethod: Nullable(Type.String(), '`environment`, `stdin`, `both` or `powershell` as the metadata says; null: not declared (Bolt picks)'),
  private: Type.Boolean({ description: 'Private tasks are not listed by `GET /api/tasks`' })
}, { $id: 'TaskDetail' })
export type TaskDetail = Static<typeof TaskDetail>

export const PLAN_LANGUAGES = ['puppet', 'yaml'] as const
export const DEFAULT_FORMATS = ['puppet-source', 'value'] as const

export const PlanDetail = Type.Object({
  name: Type.String(),
  description: Nullable(Type.String()),
  summary: Nullable(Type.String(), 'A Puppet plan\'s `@summary`'),
  parameters: Type.Array(ref(Parameter), { description: 'In the order of the plan' }),
  private: Type.Boolean(),
  language: literals(PLAN_LANGUAGES, { description: 'A Puppet-language plan (`.pp`) or a YAML plan' }),
  defaultFormat: literals(DEFAULT_FORMATS, {
    description: 'What the parameters\' `default` is: Puppet source text (`"\'ppworld\'"`, `"3"`) for a Puppet plan, ' +
      'the value itself for a YAML plan'
  })
}, { $id: 'PlanDetail' })
export type PlanDetail = Static<typeof PlanDetail>

export const InventoryTarget = Type.Object({
  name: Type.String(),
  uri: Nullable(Type.String(), 'As the inventory gives it (a password in it is redacted); null when not set'),
  alias: Type.Array(Type.String(), { description: 'Bolt prints one alias as a string: it is always a list here' }),
  groups: Type.Array(Type.String(), { description: 'Innermost first, `all` last' }),
  transport: Nullable(Type.String()),
  features: Type.Array(Type.String()),
  facts: Type.Record(Type.String(), Type.Unknown(), { description: 'Secret-named keys at any depth are `[REDACTED]`' }),
  vars: Type.Record(Type.String(), Type.Unknown(), { description: 'Secret-named keys at any depth are `[REDACTED]`' })
}, { $id: 'InventoryTarget', description: 'A target with its connection settings (`config`) left out' })
export type InventoryTarget = Static<typeof InventoryTarget>

export const Group = Type.Object({ name: Type.String() }, { $id: 'Group' })
export type Group = Static<typeof Group>

export const ItemList = Type.Array(ref(ItemSummary), { description: 'Sorted by name, as Bolt lists them' })
export const TargetList = Type.Array(ref(InventoryTarget), { description: 'In inventory order' })
export const GroupList = Type.Array(ref(Group), { description: '`all` first, then in inventory order' })

/** The error answers of a discovery route: those of every route, and Bolt's failures. */
export const discoveryErrorResponses = { ...errorResponses, 502: ErrorRef, 504: ErrorRef }
