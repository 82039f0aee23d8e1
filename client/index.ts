// The typed client of the bolt-stream API. Its types are the API contract's (schemas/).
export { BoltStreamClient, type ClientOptions } from './bolt-stream-client.js'
export { BoltStreamError } from './errors.js'
export type { ConnectionState, EventSourceConstructor, FollowOptions } from './follow.js'
export { backoffDelay, DEFAULT_MAX_BACKOFF_MS, DEFAULT_MIN_BACKOFF_MS, type BackoffOptions } from './backoff.js'
export type * from './types.js'
export type {
  Accepted, CommandBody, CommandEvent, CompleteEvent, ErrorEvent, ErrorResponse, ExecutionError, ExecutionList,
  ExecutionRecord, ExecutionStatus, ExecutionType, Group, InventoryTarget, ItemSummary, LoggedEvent, LoggedEventType,
  OperationRequest, PackageBody, Parameter, PlanBody, PlanDetail, PuppetRunBody, StreamTicket, TargetResult, TaskBody,
  TaskDetail
} from '../schemas/index.js'
