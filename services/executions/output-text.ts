import type { ExecutionRecord, OutputEventData, TargetResult } from '../../schemas/index.js'
import type { ExecutionStore } from '../store/execution-store.js'
import { isFinished } from './status.js'

const OUTPUT_PAGE = 500

/**
 * The result whose texts `/output?target=` answers with once the execution has ended: the
 * target's result as Bolt's document gave it, whole (not cut to the output limit). Null when
 * the live log answers instead (running, no such result, cut, or `source=live`).
 */
export function exactResult (record: ExecutionRecord, target?: string, source?: string): TargetResult | null {
  if (target === undefined || source === 'live' || !isFinished(record.status)) return null
  const result = record.results.find((r) => r.target === target)
  if (result === undefined || result.outputTruncated === true || (result.stdout === undefined && result.stderr === undefined)) return null
  return result
}

/**
 * A result's texts exactly as kept: stdout, then stderr (with a newline between them when
 * stdout does not end with one). A task's stderr is the stream's (`liveOutput`): Bolt keeps none.
 */
export function * resultText (result: TargetResult, stream?: string): Generator<string> {
  const stdout = stream === 'stderr' ? '' : (result.stdout ?? '')
  const stderr = stream === 'stdout' ? '' : (result.stderr ?? '')
  if (stdout.length > 0) yield stdout
  if (stdout.length > 0 && stderr.length > 0 && !stdout.endsWith('\n')) yield '\n'
  if (stderr.length > 0) yield stderr
}

/**
 * The captured output as text: the logged output events, in order, or for an execution that
 * did not stream its output (expertMode off), the targets' results. Lines carry a `[target] `
 * prefix (`[bolt] ` for Bolt's own messages) unless one target was asked for.
 */
export async function * outputText (store: ExecutionStore, record: ExecutionRecord, stream?: string, target?: string): AsyncGenerator<string> {
  const prefix = target === undefined
    ? (who: string | null, text: string) => text.replace(/^(?=.)/gm, `[${who ?? 'bolt'}] `)
    : (_who: string | null, text: string) => text
  let after = 0
  let logged = false
  for (;;) {
    const events = await store.readEvents(record.id, after, OUTPUT_PAGE)
    for (const event of events) {
      after = event.seq
      if (event.type !== 'stdout' && event.type !== 'stderr') continue
      logged = true
      const data = event.data as OutputEventData
      if (stream !== undefined && event.type !== stream && data.truncated !== true) continue
      if (target !== undefined && data.target !== target) continue
      yield prefix(data.target, data.output.endsWith('\n') ? data.output : data.output + '\n')
    }
    if (events.length < OUTPUT_PAGE) break
  }
  if (logged) return
  for (const result of record.results) {
    if (target !== undefined && result.target !== target) continue
    for (const key of ['stdout', 'stderr'] as const) {
      const text = result[key]
      if (text === undefined || text === '' || (stream !== undefined && stream !== key)) continue
      yield prefix(result.target, text.endsWith('\n') ? text : text + '\n')
    }
  }
}
