import { untrack } from 'svelte'
import type { BoltStreamClient, ConnectionState } from '../../../client/index.js'
import type { ExecutionRecord, ExecutionStatus } from '../../../schemas/executions.js'
import type { LoggedEvent } from '../../../schemas/events.js'
import { api, errorMessage } from './api.js'
import { OutputLog } from './output-log.js'

const TERMINAL = new Set<ExecutionStatus>(['success', 'failed', 'partial', 'cancelled', 'timed_out', 'interrupted'])

export function isTerminal (status: string | undefined): boolean {
  return status !== undefined && TERMINAL.has(status as ExecutionStatus)
}

/**
 * An execution as the viewer shows it: its record, its status, its output (live, then exact),
 * the stream's connection. Wraps client.follow(), which resumes and backs off by itself; this
 * module only turns events into state. `output` is plain; `version` changes when it does.
 */
export function useExecutionStream (id: () => string) {
  const state = $state({
    record: null as ExecutionRecord | null,
    status: 'loading' as ExecutionStatus | 'loading',
    command: null as string | null,
    connection: { state: 'connecting', attempt: 0 } as ConnectionState,
    error: null as string | null,
    notFound: false,
    finished: false,
    version: 0,
    output: new OutputLog()
  })

  let pending = false
  // Many events a frame, one re-render.
  const changed = (): void => {
    if (pending) return
    pending = true
    requestAnimationFrame(() => {
      pending = false
      state.version++
    })
  }

  const apply = (event: LoggedEvent): void => {
    switch (event.type) {
      case 'command':
        state.command = event.data.command
        break
      case 'stdout':
      case 'stderr':
        state.output.append(event.data.target, event.type, event.data.output)
        changed()
        break
      case 'status':
        state.status = event.data.status
        break
      case 'complete':
        state.status = event.data.status
        state.output.replaceWithResults(event.data.results)
        state.finished = true
        changed()
        break
      case 'error':
        state.status = event.data.status
        state.finished = true
        break
    }
  }

  const run = async (client: BoltStreamClient, executionId: string, signal: AbortSignal): Promise<void> => {
    try {
      const record = await client.getExecution(executionId)
      if (signal.aborted) return
      state.record = record
      state.status = record.status
      state.command = record.command
      for await (const event of client.follow(executionId, {
        signal,
        transport: 'eventsource',
        onConnection: (connection) => { state.connection = connection }
      })) {
        apply(event)
      }
      if (signal.aborted) return
      // The record after the end: completedAt, error, the status as stored.
      state.record = await client.getExecution(executionId)
      state.status = state.record.status
      state.finished = true
    } catch (err) {
      if (signal.aborted) return
      if ((err as { status?: number }).status === 404) state.notFound = true
      state.error = errorMessage(err)
    }
  }

  $effect(() => {
    const executionId = id()
    const client = api()
    const controller = new AbortController()
    // What follows writes state this effect must not depend on.
    untrack(() => {
      state.record = null
      state.status = 'loading'
      state.command = null
      state.error = null
      state.notFound = false
      state.finished = false
      state.output = new OutputLog()
      state.version++
      void run(client, executionId, controller.signal)
    })
    return () => controller.abort()
  })

  return state
}
