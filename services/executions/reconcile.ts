import type { Logger } from '../logger.js'
import type { ExecutionStore, UnfinishedExecution } from '../store/execution-store.js'
import { endGroup, processIdentity } from '../bolt/process-group.js'
import type { ExecutionError, ExecutionEvent } from '../../schemas/index.js'

export const INTERRUPTED_ERROR: ExecutionError = {
  kind: 'bolt-stream/interrupted',
  message: 'The service stopped while this execution was running; its outcome is unknown'
}

/**
 * At start-up: executions a previous run left running (a crash, a kill -9, a lost pod) become
 * `interrupted` with a terminal error event, and the Bolt process groups they left behind are
 * ended. Nothing stays `running` forever.
 */
export async function reconcileInterrupted (
  store: ExecutionStore,
  options: { killGraceMs: number, logger: Logger }
): Promise<number> {
  const unfinished = await store.listUnfinished()
  for (const execution of unfinished) await interrupt(store, execution, options, 'execution interrupted by a restart')
  return unfinished.length
}

/**
 * Marks one execution whose runner is gone `interrupted`: its Bolt process group ended when it
 * lives on this machine, then the final `status` and terminal `error` events, then the record.
 */
export async function interrupt (
  store: ExecutionStore,
  { record, processGroup }: UnfinishedExecution,
  options: { killGraceMs: number, logger: Logger },
  message: string
): Promise<void> {
  const identity = processIdentity()
  if (processGroup !== null && identity.bootId !== '' &&
      processGroup.bootId === identity.bootId && processGroup.pidNamespace === identity.pidNamespace) {
    const outcome = await endGroup(processGroup.pgid, options.killGraceMs)
    if (outcome !== 'gone') options.logger.warn({ executionId: record.id, pgid: processGroup.pgid, outcome }, 'ended a Bolt process group left by a previous run')
  }
  const last = await store.lastSeq(record.id)
  const timestamp = new Date().toISOString()
  const events: ExecutionEvent[] = [
    { type: 'status', executionId: record.id, timestamp, seq: last + 1, data: { status: 'interrupted' } },
    { type: 'error', executionId: record.id, timestamp, seq: last + 2, data: { status: 'interrupted', error: INTERRUPTED_ERROR } }
  ]
  // Events first: a finished record's log always ends with its terminal event.
  await store.appendEvents(record.id, events)
  await store.update(record.id, { status: 'interrupted', completedAt: timestamp, error: INTERRUPTED_ERROR })
  await store.setProcessGroup(record.id, null)
  options.logger.warn({ executionId: record.id }, message)
}
