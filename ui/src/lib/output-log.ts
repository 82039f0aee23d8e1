import type { TargetResult } from '../../../schemas/executions.js'
import { plainText } from './ansi.js'

export type StreamName = 'stdout' | 'stderr'

export interface OutputLine {
  /** null: Bolt's own message. */
  target: string | null
  stream: StreamName
  text: string
}

export interface OutputFilter {
  /** '' = every target; BOLT_TARGET = Bolt's own lines. */
  target: string
  stream: '' | StreamName
}

/** The filter value for Bolt's own lines (no target name can be empty). */
export const BOLT_TARGET = '\u0000bolt'

/**
 * An execution's output as lines. Plain (not reactive): it may hold 100,000 lines and more, and
 * the view re-reads it when `version` changes, once per animation frame at most.
 */
export class OutputLog {
  lines: OutputLine[] = []
  targets = new Set<string>()
  hasBoltLines = false
  /** Set once the record's exact results replaced the live lines. */
  exact = false
  // A live chunk that did not end with a newline, per target and stream, waiting for the rest.
  private open = new Map<string, number>()

  /** A stdout/stderr event's text: one or more lines. */
  append (target: string | null, stream: StreamName, output: string): void {
    if (target === null) this.hasBoltLines = true
    else this.targets.add(target)
    const key = `${stream}\u0000${target ?? ''}`
    const pieces = output.split('\n')
    const endsLine = pieces[pieces.length - 1] === ''
    if (endsLine) pieces.pop()
    const openIndex = this.open.get(key)
    let first = 0
    if (openIndex !== undefined && pieces.length > 0) {
      this.lines[openIndex].text += pieces[0]
      first = 1
      this.open.delete(key)
    }
    for (let i = first; i < pieces.length; i++) this.lines.push({ target, stream, text: pieces[i] })
    if (!endsLine && pieces.length > first) this.open.set(key, this.lines.length - 1)
  }

  /**
   * On completion: each target with a whole result gets the result's exact text (stdout, then
   * stderr) in place of Bolt's live approximation. Bolt's own lines stay first, in their order;
   * a target without the result's text (no `expert` scope, cut at the limit, a task's stderr
   * that only the stream had) keeps its live lines.
   */
  replaceWithResults (results: TargetResult[]): void {
    const byTarget = new Map(results.map((r) => [r.target, r]))
    const live = new Map<string | null, OutputLine[]>()
    for (const line of this.lines) {
      const list = live.get(line.target) ?? []
      list.push(line)
      live.set(line.target, list)
    }
    const next: OutputLine[] = [...(live.get(null) ?? [])]
    const order = [...results.map((r) => r.target), ...[...this.targets].filter((t) => !byTarget.has(t))]
    for (const target of order) {
      this.targets.add(target)
      const result = byTarget.get(target)
      const liveLines = live.get(target) ?? []
      for (const stream of ['stdout', 'stderr'] as const) {
        const text = result === undefined || result.outputTruncated === true || result.liveOutput?.includes(stream) === true
          ? undefined
          : result[stream]
        if (text === undefined || text === null) next.push(...liveLines.filter((l) => l.stream === stream))
        else next.push(...splitText(text).map((t) => ({ target, stream, text: t })))
      }
    }
    this.lines = next
    this.open.clear()
    this.exact = true
  }

  /** Indices of the lines the filter keeps; null when it keeps every line. */
  select (filter: OutputFilter): number[] | null {
    if (filter.target === '' && filter.stream === '') return null
    const out: number[] = []
    const wantBolt = filter.target === BOLT_TARGET
    for (let i = 0; i < this.lines.length; i++) {
      const line = this.lines[i]
      if (filter.stream !== '' && line.stream !== filter.stream) continue
      if (filter.target !== '' && (wantBolt ? line.target !== null : line.target !== filter.target)) continue
      out.push(i)
    }
    return out
  }

  /** The lines at `indices` as text, each prefixed with its target as /output does it. */
  text (indices: number[] | null): string {
    return (indices ?? this.lines.map((_, i) => i)).map((i) => {
      const line = this.lines[i]
      return `[${line.target ?? 'bolt'}] ${plainText(line.text)}\n`
    }).join('')
  }
}

/** A result's text as lines: a final newline ends the last line, it does not add an empty one. */
function splitText (text: string): string[] {
  if (text === '') return []
  const pieces = text.split('\n')
  if (pieces[pieces.length - 1] === '') pieces.pop()
  return pieces
}
