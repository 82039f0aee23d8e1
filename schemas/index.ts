import { ErrorResponse } from './common.js'
import { Group, InventoryTarget, ItemSummary, Parameter, PlanDetail, TaskDetail } from './discovery.js'
import { CommandEvent, CompleteEvent, ErrorEvent, LoggedEvent, StartEvent, StatusEvent, StderrEvent, StdoutEvent } from './events.js'
import { Accepted, ExecutionError, ExecutionRecord, OperationRequest, TargetResult } from './executions.js'

// The API contract: every request, answer and event the API sends or receives, in TypeBox. The
// TypeScript types come from these schemas (`Static<>`); routes reference the shared ones by `$id`.

export * from './common.js'
export * from './input-rules.js'
export * from './executions.js'
export * from './operations.js'
export * from './events.js'
export * from './streaming.js'
export * from './health.js'
export * from './discovery.js'
export * from './info.js'

/** The schemas registered once with `addSchema` and referenced by `$id`, in dependency order. */
export const sharedSchemas = [
  ErrorResponse, ExecutionError, TargetResult, OperationRequest, ExecutionRecord, Accepted,
  StatusEvent, CommandEvent, StdoutEvent, StderrEvent, CompleteEvent, ErrorEvent, LoggedEvent, StartEvent,
  ItemSummary, Parameter, TaskDetail, PlanDetail, InventoryTarget, Group
]
