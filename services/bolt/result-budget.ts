import type { TargetResult } from '../../schemas/index.js'
import type { BoltInvocation } from './arguments.js'
import { cutUtf8 } from './output-limit.js'

/**
 * Completes the results with what only the stream has, then cuts their stdout/stderr to one
 * byte budget shared by all targets. Returns whether anything was cut.
 *
 * A task's stdout and value are Bolt's (`_output` and the document's value, exactly); its stderr
 * is not in Bolt's document at all, so the stream's text stands in, marked `liveOutput`.
 */
export function applyResultBudget (
  results: TargetResult[],
  liveStderr: ReadonlyMap<string, string>,
  type: BoltInvocation['type'],
  maxBytes: number
): boolean {
  let left = maxBytes
  let cut = false
  for (const result of results) {
    const stderr = liveStderr.get(result.target)
    if ((type === 'task' || type === 'package') && stderr !== undefined && stderr.length > 0) {
      result.stderr = stderr
      result.liveOutput = ['stderr']
    }
    for (const key of ['stdout', 'stderr'] as const) {
      const text = result[key]
      if (text === undefined) continue
      const kept = cutUtf8(text, left)
      if (kept.length !== text.length) result.outputTruncated = true
      left -= Buffer.byteLength(kept, 'utf8')
      result[key] = kept
    }
    if (result.outputTruncated === true) cut = true
  }
  return cut
}
