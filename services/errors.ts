import createError from '@fastify/error'

// Typed errors with stable codes; the HTTP layer turns them into `{error: {code, message}}`.

export const InvalidInputError = createError('BOLT_STREAM_INVALID_INPUT', '%s', 400)
export const ParamsTooDeepError = createError(
  'BOLT_STREAM_PARAMS_TOO_DEEP', 'params nest deeper than %d levels (the params object counts as one)', 400)
export const PrototypeKeyError = createError('BOLT_STREAM_PROTOTYPE_KEY',
  'The body holds a "__proto__" key, or a "constructor" key holding "prototype": such keys are refused at any depth', 400)
export const ExecutionNotFoundError = createError('BOLT_STREAM_EXECUTION_NOT_FOUND', "Execution '%s' not found", 404)
export const ExecutionFinishedError = createError(
  'BOLT_STREAM_EXECUTION_FINISHED', "Execution '%s' already finished with status '%s'", 409)
export const ExecutionRunningError = createError(
  'BOLT_STREAM_EXECUTION_RUNNING', "Execution '%s' is still running; cancel it first", 409)
export const NotRerunnableError = createError('BOLT_STREAM_NOT_RERUNNABLE', "Execution '%s' cannot be re-run: %s", 409)
export const NothingToRerunError = createError(
  'BOLT_STREAM_NOTHING_TO_RERUN', "Execution '%s' has no failed target to re-run: every result is a success", 409)
export const QueueFullError = createError(
  'BOLT_STREAM_QUEUE_FULL', '%d executions are running and %d are waiting, the most allowed; retry later', 429)
export const CommandNotAllowedError = createError('BOLT_STREAM_COMMAND_NOT_ALLOWED', 'This command is not allowed by COMMAND_ALLOWLIST', 403)
export const TaskNotAllowedError = createError('BOLT_STREAM_TASK_NOT_ALLOWED', "Task '%s' is not allowed by TASK_ALLOWLIST", 403)
export const PlanNotAllowedError = createError('BOLT_STREAM_PLAN_NOT_ALLOWED', "Plan '%s' is not allowed by PLAN_ALLOWLIST", 403)
export const TooManyStreamsError = createError('BOLT_STREAM_TOO_MANY_STREAMS', '%s', 429)
export const NotAcceptableError = createError('BOLT_STREAM_NOT_ACCEPTABLE', 'This endpoint only produces text/event-stream', 406)
export const ShuttingDownError = createError('BOLT_STREAM_SHUTTING_DOWN', 'The service is shutting down; start the execution on another instance', 503)
export const InvalidEventIdError = createError('BOLT_STREAM_INVALID_EVENT_ID', '%s', 400)
export const ConfigError = createError('BOLT_STREAM_INVALID_CONFIG', 'Invalid configuration: %s', 500)
export const UnauthorizedError = createError('BOLT_STREAM_UNAUTHORIZED', 'This API needs a token: send "Authorization: Bearer <token>"', 401)
export const InvalidTokenError = createError('BOLT_STREAM_INVALID_TOKEN', '%s', 401)
export const InvalidTicketError = createError('BOLT_STREAM_INVALID_TICKET', '%s', 401)
export const TokenInUrlError = createError('BOLT_STREAM_TOKEN_IN_URL',
  'Tokens are never accepted in the URL: send "Authorization: Bearer <token>", or use a stream ticket for EventSource', 400)
const ScopeError = createError('BOLT_STREAM_FORBIDDEN', "This token lacks the '%s' scope needed for %s", 403)
/** 403 for a missing scope; `requiredScope` feeds the WWW-Authenticate challenge. */
export function ForbiddenError (scope: string, what: string): Error & { requiredScope: string } {
  return Object.assign(new ScopeError(scope, what), { requiredScope: scope })
}
export const TooManyTicketsError = createError('BOLT_STREAM_TOO_MANY_TICKETS', 'Too many unused stream tickets are outstanding (at most %d per client); use them or let them expire', 429)
export const TokenListError = createError('BOLT_STREAM_INVALID_TOKEN_LIST', '%s', 500)
export const StoreOpenError = createError('BOLT_STREAM_STORE_UNAVAILABLE', '%s', 500)
/** The shared store (Redis) cannot be reached now: nothing was stored, try again (another replica sees the same). */
export const StoreUnavailableError = createError('BOLT_STREAM_STORE_UNAVAILABLE', 'The history store cannot be reached: %s', 503)

// Discovery (`bolt task show`, `plan show`, `inventory show`, `group show`): Bolt's own errors come
// back with Bolt's kind next to the message.
export const TaskNotFoundError = createError('BOLT_STREAM_TASK_NOT_FOUND', '%s', 404)
export const PlanNotFoundError = createError('BOLT_STREAM_PLAN_NOT_FOUND', '%s', 404)
export const GroupNotFoundError = createError('BOLT_STREAM_GROUP_NOT_FOUND', "Group '%s' is not in the inventory", 404)
export const BoltFailedError = createError('BOLT_STREAM_BOLT_ERROR', '%s', 502)
export const BoltTimeoutError = createError('BOLT_STREAM_BOLT_TIMEOUT', '%s', 504)
export const BoltUnavailableError = createError('BOLT_STREAM_BOLT_UNAVAILABLE', '%s', 503)
export const DiscoveryClosedError = createError('BOLT_STREAM_SHUTTING_DOWN', 'The service is shutting down; ask again later', 503)

/** The error with the kind Bolt (or bolt-stream) gave it, for the answer's `error.kind`. */
export function withKind<E extends Error> (error: E, kind: string): E & { kind: string } {
  return Object.assign(error, { kind })
}
