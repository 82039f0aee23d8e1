import type { ExecutionEvent, ExecutionRecord, TargetResult } from '../../schemas/index.js'

// What a reader without the `expert` scope may see: no command line and no raw output. It
// never receives `command`, `stdout` or `stderr` events; results come without stdout/stderr
// (exit codes, statuses, task values and errors stay).

const EXPERT_ONLY: ReadonlySet<ExecutionEvent['type']> = new Set(['command', 'stdout', 'stderr'])

/** The event as a reader without `expert` sees it (the same object when nothing is hidden), or null. */
const publicViews = new WeakMap<ExecutionEvent, ExecutionEvent>()

export function publicEvent (event: ExecutionEvent): ExecutionEvent | null {
  if (EXPERT_ONLY.has(event.type)) return null
  if (event.type !== 'complete') return event
  const data = event.data as { results?: TargetResult[] } | null
  if (data === null || typeof data !== 'object' || !Array.isArray(data.results) || !data.results.some(hasRawOutput)) return event
  let view = publicViews.get(event)
  if (view === undefined) {
    // Derived once per event, so its frame is serialised once for every such reader.
    view = { ...event, data: { ...data, results: publicResults(data.results) } }
    publicViews.set(event, view)
  }
  return view
}

/** The event as a reader sees it. */
export function eventFor (event: ExecutionEvent, expert: boolean): ExecutionEvent | null {
  return expert ? event : publicEvent(event)
}

export function publicResults (results: TargetResult[]): TargetResult[] {
  return results.map((result) => {
    if (!hasRawOutput(result)) return result
    const { stdout: _stdout, stderr: _stderr, ...rest } = result
    return rest
  })
}

export function recordFor (record: ExecutionRecord, expert: boolean): ExecutionRecord {
  if (expert) return record
  return { ...record, command: null, results: publicResults(record.results) }
}

function hasRawOutput (result: TargetResult): boolean {
  return result.stdout !== undefined || result.stderr !== undefined
}
