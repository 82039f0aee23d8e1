import type { OperationSpec } from '../bolt/arguments.js'
import { redactCommand, redactParams } from '../bolt/arguments.js'
import { NotRerunnableError, NothingToRerunError } from '../errors.js'
import { isFinished } from './status.js'
import type { ExecutionRecord, OperationRequest, PackageAction, RerunBody } from '../../schemas/index.js'

// What an execution asked for is kept with its record (secrets redacted) so that it can be
// asked again: on all its targets, or on those that did not succeed.

type Selection = NonNullable<RerunBody['targets']>

/** The request as the record keeps it: secrets redacted, and a flag saying whether any were. */
export function requestOf (spec: OperationSpec): OperationRequest {
  switch (spec.type) {
    case 'command': {
      const command = redactCommand(spec.command)
      return { command, redacted: command !== spec.command }
    }
    case 'task': {
      const params = spec.params ?? {}
      const shown = redactParams(params) as Record<string, unknown>
      return { task: spec.task, params: shown, redacted: JSON.stringify(shown) !== JSON.stringify(params) }
    }
    case 'plan': {
      const params = spec.params ?? {}
      const shown = redactParams(params) as Record<string, unknown>
      return { plan: spec.plan, params: shown, redacted: JSON.stringify(shown) !== JSON.stringify(params) }
    }
    case 'puppet':
      return defined({ noop: spec.noop, environment: spec.environment, tags: spec.tags, redacted: false })
    case 'package':
      return defined({ name: spec.name, action: spec.action, version: spec.version, redacted: false })
  }
}

function defined (request: OperationRequest): OperationRequest {
  return Object.fromEntries(Object.entries(request).filter(([, v]) => v !== undefined)) as OperationRequest
}

/** The operation a re-run of `record` starts; throws a 409 when it cannot be re-run. */
export function rerunSpec (record: ExecutionRecord, selection: Selection): OperationSpec {
  const { request } = record
  if (request === null) throw new NotRerunnableError(record.id, 'it was recorded before the service kept what was asked')
  if (request.redacted) {
    throw new NotRerunnableError(record.id, 'its request held secrets, which are stored redacted; start it again with them')
  }
  const targets = selection === 'all' ? [...record.targets] : failedTargets(record)
  return specFrom(record, request, targets)
}

/** Targets whose result was not a success; every target when the run produced no results. */
function failedTargets (record: ExecutionRecord): string[] {
  if (!isFinished(record.status)) {
    throw new NotRerunnableError(record.id, `it is still ${record.status}; its failed targets are not known yet`)
  }
  const failed = record.results.filter((r) => r.status !== 'success').map((r) => r.target)
  if (failed.length > 0) return failed
  if (record.results.length === 0 && record.status !== 'success') return [...record.targets]
  throw new NothingToRerunError(record.id)
}

function specFrom (record: ExecutionRecord, request: OperationRequest, targets: string[]): OperationSpec {
  switch (record.type) {
    case 'command':
      return { type: 'command', targets, command: request.command ?? '' }
    case 'task':
      return { type: 'task', targets, task: request.task ?? '', params: request.params ?? {} }
    case 'plan':
      return { type: 'plan', targets, plan: request.plan ?? '', params: request.params ?? {} }
    case 'puppet':
      return { type: 'puppet', targets, noop: request.noop, environment: request.environment, tags: request.tags }
    case 'package':
      return { type: 'package', targets, name: request.name ?? '', action: request.action as PackageAction | undefined, version: request.version }
  }
}
