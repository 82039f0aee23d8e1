import type { TargetResult } from '../../schemas/index.js'
import type { BoltInvocation } from './arguments.js'
import { cutUtf8 } from './output-limit.js'

/**
 * Fills in task output captured from the stream, then cuts the results' stdout/stderr to one
 * byte budget shared by all targets. Returns whether anything was cut.
 */
export function applyResultBudget (
  results: TargetResult[],
  captured: Map<string, { stdout: string, stderr: string }>,
  type: BoltInvocation['type'],
  maxBytes: number
): boolean {
  let left = maxBytes
  let cut = false
  for (const result of results) {
    const live = captured.get(result.target)
    if (live !== undefined && (type === 'task' || type === 'package')) {
      // A task's raw stdout/stderr is what it streamed; Bolt's document keeps only parts of it.
      if (live.stdout.length > 0) result.stdout = live.stdout
      if (live.stderr.length > 0) result.stderr = live.stderr
    }
    for (const key of ['stdout', 'stderr'] as const) {
      const text = result[key]
      if (text === undefined) continue
      const kept = cutUtf8(text, left)
      if (kept.length !== text.length) cut = true
      left -= Buffer.byteLength(kept, 'utf8')
      result[key] = kept
    }
  }
  return cut
}
