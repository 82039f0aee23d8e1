import { Type, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox'
import { EXECUTION_STATUSES, EXECUTION_TYPES } from '../services/types.js'
import {
  COMMAND_PATTERN, MAX_COMMAND_LENGTH, MAX_PACKAGE_TOKEN_LENGTH, MAX_TAGS, MAX_TARGET_LENGTH, MAX_TARGETS,
  PACKAGE_ACTIONS, PACKAGE_TOKEN_PATTERN, PUPPET_ENVIRONMENT_PATTERN, PUPPET_TAG_PATTERN, TARGET_PATTERN,
  TASK_NAME_PATTERN, TASK_PARAM_NAME_PATTERN
} from '../services/bolt/input-rules.js'

// Schemas shared by the routes. Bodies are closed (`additionalProperties: false`) and are
// validated without coercion (plugins/validation.ts).

const literals = <T extends readonly string[]>(values: T) =>
  Type.Union(values.map((v) => Type.Literal(v))) as unknown as TUnion<Array<TLiteral<T[number]>>>

export const ErrorResponse = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() })
}, { $id: 'ErrorResponse' })

export const errorResponses = {
  400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 415: ErrorResponse, 429: ErrorResponse, 500: ErrorResponse, 503: ErrorResponse
}

export const Targets = Type.Array(
  Type.String({ minLength: 1, maxLength: MAX_TARGET_LENGTH, pattern: TARGET_PATTERN }),
  { minItems: 1, maxItems: MAX_TARGETS, description: 'Inventory names or URIs (optional scheme://, user@, :port)' })

export const ExpertMode = Type.Boolean({ description: 'Stream the command line and live output' })

export const CommandBody = Type.Object({
  targets: Targets,
  command: Type.String({ minLength: 1, maxLength: MAX_COMMAND_LENGTH, pattern: COMMAND_PATTERN }),
  expertMode: Type.Optional(ExpertMode)
}, { additionalProperties: false })

export const TaskBody = Type.Object({
  targets: Targets,
  task: Type.String({ minLength: 1, maxLength: 256, pattern: TASK_NAME_PATTERN }),
  params: Type.Optional(Type.Record(Type.String({ pattern: TASK_PARAM_NAME_PATTERN }), Type.Unknown())),
  expertMode: Type.Optional(ExpertMode)
}, { additionalProperties: false })

export const PuppetRunBody = Type.Object({
  targets: Targets,
  noop: Type.Optional(Type.Boolean()),
  environment: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: PUPPET_ENVIRONMENT_PATTERN })),
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256, pattern: PUPPET_TAG_PATTERN }), { maxItems: MAX_TAGS })),
  expertMode: Type.Optional(ExpertMode)
}, { additionalProperties: false })

const PackageToken = Type.String({ minLength: 1, maxLength: MAX_PACKAGE_TOKEN_LENGTH, pattern: PACKAGE_TOKEN_PATTERN })
export const PackageBody = Type.Object({
  targets: Targets,
  name: PackageToken,
  action: Type.Optional(literals(PACKAGE_ACTIONS)),
  version: Type.Optional(PackageToken),
  expertMode: Type.Optional(ExpertMode)
}, { additionalProperties: false })

export const Accepted = Type.Object({
  executionId: Type.String({ format: 'uuid' }),
  status: literals(EXECUTION_STATUSES),
  streamUrl: Type.String()
})

export const ExecutionStatusSchema = literals(EXECUTION_STATUSES)
export const ExecutionTypeSchema = literals(EXECUTION_TYPES)

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

export const ExecutionErrorSchema = Type.Object({
  kind: Type.String(),
  message: Type.String(),
  issueCode: Type.Optional(Type.String())
})

export const TargetResultSchema = Type.Object({
  target: Type.String(),
  status: literals(['success', 'failed'] as const),
  exitCode: Type.Optional(Type.Integer()),
  stdout: Type.Optional(Type.String()),
  stderr: Type.Optional(Type.String()),
  value: Type.Optional(Type.Unknown()),
  error: Type.Optional(ExecutionErrorSchema)
})

export const ExecutionRecordSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: ExecutionTypeSchema,
  targets: Type.Array(Type.String()),
  action: Type.String(),
  status: ExecutionStatusSchema,
  startedAt: Type.String({ format: 'date-time' }),
  completedAt: Nullable(Type.String({ format: 'date-time' })),
  expertMode: Type.Boolean(),
  command: Nullable(Type.String()),
  results: Type.Array(TargetResultSchema),
  error: Nullable(ExecutionErrorSchema),
  outputTruncated: Type.Boolean(),
  requestedBy: Type.Union([Type.String(), Type.Null()], { description: 'Name of the API token that started it; null in open mode' })
})

export const ExecutionEventSchema = Type.Object({
  type: literals(['command', 'stdout', 'stderr', 'status', 'complete', 'error'] as const),
  executionId: Type.String(),
  timestamp: Type.String(),
  seq: Type.Integer(),
  data: Type.Unknown()
})

export const ExecutionIdParams = Type.Object({
  id: Type.String({ format: 'uuid', description: 'Execution id (UUID v4)' })
})
