import type { ExecutionStatus } from '../../schemas/index.js'

/** Statuses of an execution that has not ended yet. */
export const UNFINISHED_STATUSES: readonly ExecutionStatus[] = ['queued', 'running']

export function isFinished (status: ExecutionStatus): boolean {
  return !UNFINISHED_STATUSES.includes(status)
}
