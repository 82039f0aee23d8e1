import { Type, type Static } from '@sinclair/typebox'
import { literals } from './common.js'
import {
  COMMAND_PATTERN, MAX_COMMAND_LENGTH, MAX_PACKAGE_TOKEN_LENGTH, MAX_TAGS, MAX_TARGET_LENGTH, MAX_TARGETS,
  PACKAGE_ACTIONS, PACKAGE_TOKEN_PATTERN, PUPPET_ENVIRONMENT_PATTERN, PUPPET_TAG_PATTERN, TARGET_PATTERN,
  TASK_NAME_PATTERN, TASK_PARAM_NAME_PATTERN
} from './input-rules.js'

// Request bodies that start executions. They are closed (`additionalProperties: false`) and
// validated without coercion (plugins/app/validation.ts).

export const Targets = Type.Array(
  Type.String({ minLength: 1, maxLength: MAX_TARGET_LENGTH, pattern: TARGET_PATTERN }),
  { minItems: 1, maxItems: MAX_TARGETS, description: 'Inventory names or URIs (optional scheme://, user@, :port)' })

export const ExpertMode = Type.Boolean({ description: 'Stream the command line and live output (needs the expert scope)' })

export const CommandBody = Type.Object({
  targets: Targets,
  command: Type.String({ minLength: 1, maxLength: MAX_COMMAND_LENGTH, pattern: COMMAND_PATTERN }),
  expertMode: Type.Optional(ExpertMode)
}, { additionalProperties: false })
export type CommandBody = Static<typeof CommandBody>

export const TaskName = Type.String({ minLength: 1, maxLength: 256, pattern: TASK_NAME_PATTERN })
export const TaskParams = Type.Record(Type.String({ pattern: TASK_PARAM_NAME_PATTERN }), Type.Unknown())

export const TaskBody = Type.Object({
  targets: Targets,
  task: TaskName,
  params: Type.Optional(TaskParams),
  expertMode: Type.Optional(ExpertMode)
}, { additionalProperties: false })
export type TaskBody = Static<typeof TaskBody>

export const PlanBody = Type.Object({
  plan: TaskName,
  params: Type.Optional(TaskParams),
  targets: Type.Optional(Targets),
  expertMode: Type.Optional(ExpertMode)
}, { additionalProperties: false, description: 'Runs a Bolt plan; `targets` is passed as --targets (the plan may also take its own TargetSpec parameters)' })
export type PlanBody = Static<typeof PlanBody>

export const PuppetRunBody = Type.Object({
  targets: Targets,
  noop: Type.Optional(Type.Boolean()),
  environment: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: PUPPET_ENVIRONMENT_PATTERN })),
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256, pattern: PUPPET_TAG_PATTERN }), { maxItems: MAX_TAGS })),
  expertMode: Type.Optional(ExpertMode)
}, { additionalProperties: false })
export type PuppetRunBody = Static<typeof PuppetRunBody>

const PackageToken = Type.String({ minLength: 1, maxLength: MAX_PACKAGE_TOKEN_LENGTH, pattern: PACKAGE_TOKEN_PATTERN })
export const PackageBody = Type.Object({
  targets: Targets,
  name: PackageToken,
  action: Type.Optional(literals(PACKAGE_ACTIONS)),
  version: Type.Optional(PackageToken),
  expertMode: Type.Optional(ExpertMode)
}, { additionalProperties: false })
export type PackageBody = Static<typeof PackageBody>
