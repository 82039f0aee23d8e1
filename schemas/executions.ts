import { Type, type Static } from '@sinclair/typebox'
import { literals, Nullable, ref } from './common.js'
import { MAX_TARGET_LENGTH, TARGET_PATTERN } from './input-rules.js'

export const EXECUTION_TYPES = ['command', 'task', 'plan', 'puppet', 'package'] as const
export const EXECUTION_STATUSES = ['queued', 'running', 'success', 'failed', 'partial', 'cancelled', 'timed_out', 'interrupted'] as const

export const ExecutionType = literals(EXECUTION_TYPES, { description: 'What kind of operation' })
export type ExecutionType = Static<typeof ExecutionType>

export const ExecutionStatus = literals(EXECUTION_STATUSES, {
  description: 'queued (waiting for a slot), running, then one final status'
})
export type ExecutionStatus = Static<typeof ExecutionStatus>

export const ExecutionError = Type.Object({
  kind: Type.String({ description: "Bolt's error kind (bolt/…, puppetlabs.tasks/…) or bolt-stream/…" }),
  message: Type.String(),
  issueCode: Type.Optional(Type.String({ description: "Bolt's issue code, e.g. CONNECT_ERROR" }))
}, { $id: 'ExecutionError' })
export type ExecutionError = Static<typeof ExecutionError>

export const TargetResult = Type.Object({
  target: Type.String(),
  status: literals(['success', 'failed'] as const),
  exitCode: Type.Optional(Type.Integer()),
  stdout: Type.Optional(Type.String({ description: 'Only for readers with the expert scope' })),
  stderr: Type.Optional(Type.String({ description: 'Only for readers with the expert scope' })),
  value: Type.Optional(Type.Unknown({ description: "A task's parsed result (Bolt's _output/_error lifted out)" })),
  error: Type.Optional(ref(ExecutionError)),
  liveOutput: Type.Optional(Type.Array(literals(['stdout', 'stderr'] as const), {
    description: "Texts of this result rebuilt from Bolt's live stream, because Bolt's result document does not keep " +
      'them (a task\'s stderr): cut where Bolt\'s reads ended, blank-only reads lost. Every other stdout/stderr is ' +
      'exactly as in the document'
  })),
  outputTruncated: Type.Optional(Type.Literal(true, { description: 'Its stdout/stderr were cut to the output limit' }))
}, { $id: 'TargetResult' })
export type TargetResult = Static<typeof TargetResult>

export const OperationRequest = Type.Object({
  command: Type.Optional(Type.String({ description: 'command: the command (secrets redacted)' })),
  task: Type.Optional(Type.String({ description: 'task: the task name' })),
  plan: Type.Optional(Type.String({ description: 'plan: the plan name' })),
  params: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'task, plan: the parameters (secret-named ones redacted)' })),
  noop: Type.Optional(Type.Boolean({ description: 'puppet: a no-op run' })),
  environment: Type.Optional(Type.String({ description: 'puppet: the environment' })),
  tags: Type.Optional(Type.Array(Type.String(), { description: 'puppet: the tags' })),
  name: Type.Optional(Type.String({ description: 'package: the package name' })),
  action: Type.Optional(Type.String({ description: 'package: the action' })),
  version: Type.Optional(Type.String({ description: 'package: the version' })),
  redacted: Type.Boolean({ description: 'Secrets were removed from it, so it cannot be re-run' })
}, { $id: 'OperationRequest', additionalProperties: false, description: 'What was asked: the fields of the request body besides targets and expertMode' })
export type OperationRequest = Static<typeof OperationRequest>

export const ExecutionRecord = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: ExecutionType,
  targets: Type.Array(Type.String()),
  action: Type.String({ description: 'The command (secrets redacted), the task or plan name, `puppet agent`, or the package name' }),
  status: ExecutionStatus,
  startedAt: Type.String({ format: 'date-time' }),
  completedAt: Nullable(Type.String({ format: 'date-time' })),
  expertMode: Type.Boolean(),
  command: Nullable(Type.String(), 'The Bolt command line (secrets redacted); expert mode and the expert scope only'),
  results: Type.Array(ref(TargetResult)),
  result: Type.Optional(Type.Unknown({ description: "plan: the plan's return value (an object, array, string, number, boolean or null); absent while it runs, on failure, or when it exceeded the output budget" })),
  resultTruncated: Type.Optional(Type.Literal(true, { description: 'plan: the return value exceeded the output budget and was left out' })),
  error: Nullable(ref(ExecutionError), 'Set when the execution as a whole failed'),
  outputTruncated: Type.Boolean(),
  requestedBy: Nullable(Type.String(), 'Name of the API token that started it; null in open mode'),
  request: Nullable(ref(OperationRequest), 'What was asked; null for executions recorded before the service kept it'),
  rerunOf: Nullable(Type.String({ format: 'uuid' }), 'The execution this one re-runs')
}, { $id: 'ExecutionRecord' })
export type ExecutionRecord = Static<typeof ExecutionRecord>

export const Accepted = Type.Object({
  executionId: Type.String({ format: 'uuid' }),
  status: ExecutionStatus,
  streamUrl: Type.String()
}, { $id: 'Accepted' })
export type Accepted = Static<typeof Accepted>

export const RERUN_SELECTIONS = ['all', 'failed'] as const
export const RerunBody = Type.Object({
  targets: Type.Optional(literals(RERUN_SELECTIONS, {
    description: 'all (default): every target of the original; failed: those whose result was not success'
  }))
}, { additionalProperties: false })
export type RerunBody = Static<typeof RerunBody>

export const ExecutionIdParams = Type.Object({
  id: Type.String({ format: 'uuid', description: 'Execution id (UUID v4)' })
})

export const TargetFilter = Type.String({ minLength: 1, maxLength: MAX_TARGET_LENGTH, pattern: TARGET_PATTERN })

export const ExecutionListQuery = Type.Object({
  status: Type.Optional(ExecutionStatus),
  type: Type.Optional(ExecutionType),
  target: Type.Optional(TargetFilter),
  since: Type.Optional(Type.String({ format: 'date-time', description: 'Started at or after (ISO 8601)' })),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'Started before (ISO 8601)' })),
  rerunOf: Type.Optional(Type.String({ format: 'uuid', description: 'Re-runs of this execution' })),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 }))
}, { additionalProperties: false })
export type ExecutionListQuery = Static<typeof ExecutionListQuery>

export const ExecutionList = Type.Object({
  executions: Type.Array(ref(ExecutionRecord)),
  nextCursor: Nullable(Type.String(), 'Pass as `cursor` for the next page; null on the last')
})
export type ExecutionList = Static<typeof ExecutionList>

export const OutputQuery = Type.Object({
  stream: Type.Optional(literals(['stdout', 'stderr'] as const)),
  target: Type.Optional(TargetFilter),
  source: Type.Optional(literals(['result', 'live'] as const, {
    description: 'result (default): with `target`, after the end, the text of Bolt\'s result document where it holds it; ' +
      'live: the live log (cut where Bolt\'s reads ended, blank-only reads lost)'
  }))
}, { additionalProperties: false })
