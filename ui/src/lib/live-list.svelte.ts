import { untrack } from 'svelte'
import type { ExecutionRecord } from '../../../schemas/executions.js'
import type { ListQuery } from '../../../client/index.js'
import { api, errorMessage } from './api.js'

/** How often a list of executions is asked again, so statuses and new executions show up. */
export const LIST_REFRESH_MS = 2000

/**
 * A page of executions that stays current: asked again every LIST_REFRESH_MS while the tab is
 * visible (one request, whatever the number of running executions; a stream per row would take
 * the client's stream allowance). "Load more" pages on with the cursor.
 */
export function useLiveList (query: () => ListQuery) {
  const state = $state({ executions: [] as ExecutionRecord[], nextCursor: null as string | null, error: '', loading: true, pages: 1 })

  $effect(() => {
    const q = query()
    const client = api()
    let stopped = false
    untrack(() => {
      state.loading = true
      state.pages = 1
    })
    const load = async (): Promise<void> => {
      try {
        // The pages shown so far, as one request (at most 100).
        const list = await client.listExecutions({ ...q, limit: Math.min(100, (q.limit ?? 20) * state.pages) })
        if (stopped) return
        state.executions = list.executions
        state.nextCursor = list.nextCursor
        state.error = ''
      } catch (err) {
        if (!stopped) state.error = errorMessage(err)
      } finally {
        if (!stopped) state.loading = false
      }
    }
    untrack(() => { void load() })
    const timer = setInterval(() => { if (document.visibilityState === 'visible') void load() }, LIST_REFRESH_MS)
    return () => { stopped = true; clearInterval(timer) }
  })

  return {
    state,
    async more (): Promise<void> {
      if (state.nextCursor === null) return
      try {
        const list = await api().listExecutions({ ...query(), cursor: state.nextCursor })
        state.executions = [...state.executions, ...list.executions.filter((e) => !state.executions.some((x) => x.id === e.id))]
        state.nextCursor = list.nextCursor
        state.pages++
      } catch (err) {
        state.error = errorMessage(err)
      }
    }
  }
}
