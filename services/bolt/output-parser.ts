import { JsonStringCapper } from './json-string-capper.js'
import type { ExecutionError, ExecutionType, TargetResult } from '../../schemas/index.js'

// Bolt's stdout with `--format json --stream` carries two things on separate lines: the
// targets' live output (`[target] out: …` / `[target] err: …`) and, around it, the result
// document, printed one item per line as targets finish. This module separates the two and
// parses the document incrementally.

// Lazy, so `[[::1]] out: ` (an IPv6 target) and output containing `] out: ` both split right.
const STREAM_LINE = /^\[(.+?)\] (out|err): /
/** A `[`-led line longer than this cannot be a stream line (4096-byte chunks plus a prefix). */
const MAX_STREAM_LINE_CHARS = 16384
/** Text kept for the document's head/tail and for plain-text fatal output. */
const MAX_SMALL_TEXT = 64 * 1024
/** Item keys whose values are never used: `merged_output` repeats stdout and stderr. */
const UNUSED_KEYS: ReadonlySet<string> = new Set(['merged_output'])

export interface OutputSink {
  output: (stream: 'stdout' | 'stderr', target: string, text: string) => void
}

export interface ParsedDocument {
  results: TargetResult[]
  /** Bolt's fatal error, or why the document is unusable; null when it is complete. */
  error: ExecutionError | null
  /** Some strings of the document were shortened to bound memory. */
  truncated: boolean
}

/**
 * Splits decoded stdout text into lines; routes stream lines to the sink and everything
 * else to the document parser. Long document lines are forwarded in fragments.
 */
export class BoltStdoutDemux {
  private pending = ''
  /** The current line is known to belong to the document and is being forwarded in pieces. */
  private forwarding = false

  constructor (private readonly sink: OutputSink, private readonly document: BoltDocumentParser) {}

  push (text: string): void {
    let from = 0
    for (;;) {
      const nl = text.indexOf('\n', from)
      if (nl === -1) break
      const piece = text.slice(from, nl)
      from = nl + 1
      if (this.forwarding) {
        this.document.pushFragment(piece)
        this.document.endLine()
        this.forwarding = false
        continue
      }
      const line = this.pending.length > 0 ? this.pending + piece : piece
      this.pending = ''
      this.line(line.endsWith('\r') ? line.slice(0, -1) : line)
    }
    if (from < text.length) this.partial(text.slice(from))
  }

  /** End of stdout: a last line without a newline still counts. */
  end (): void {
    if (this.forwarding) {
      this.document.endLine()
      this.forwarding = false
    } else if (this.pending.length > 0) {
      const line = this.pending
      this.pending = ''
      this.line(line)
    }
  }

  private partial (rest: string): void {
    if (this.forwarding) {
      this.document.pushFragment(rest)
      return
    }
    this.pending += rest
    // Only `[`-led lines can be stream lines; anything else (or an overlong one) is document text.
    if (this.pending[0] !== '[' || this.pending.length > MAX_STREAM_LINE_CHARS) {
      this.document.pushFragment(this.pending)
      this.pending = ''
      this.forwarding = true
    }
  }

  private line (line: string): void {
    const m = line[0] === '[' ? STREAM_LINE.exec(line) : null
    if (m !== null) {
      this.sink.output(m[2] === 'out' ? 'stdout' : 'stderr', m[1], line.slice(m[0].length) + '\n')
      return
    }
    this.document.pushFragment(line)
    this.document.endLine()
  }
}

type DocState = 'start' | 'plain' | 'object' | 'items' | 'tail' | 'done'

interface BoltItem {
  target?: unknown
  status?: unknown
  value?: unknown
}

interface BoltErrorObject {
  kind?: unknown
  msg?: unknown
  issue_code?: unknown
  details?: unknown
}

export interface DocumentParserOptions {
  type: ExecutionType
  /** Longest string kept from one item (characters as written); bounds memory per line. */
  maxStringChars: number
}

/** Parses Bolt's JSON result document line by line. */
export class BoltDocumentParser {
  private state: DocState = 'start'
  private line: JsonStringCapper | null = null
  private small = ''
  private smallOverflow = false
  private readonly results: TargetResult[] = []
  private error: ExecutionError | null = null
  private truncated = false

  constructor (private readonly options: DocumentParserOptions) {}

  pushFragment (fragment: string): void {
    if (this.line === null) this.line = new JsonStringCapper(this.options.maxStringChars, UNUSED_KEYS)
    this.line.push(fragment)
  }

  endLine (): void {
    const capper = this.line
    this.line = null
    if (capper === null) return this.handleLine('')
    if (capper.truncated) this.truncated = true
    const text = capper.text()
    // A line that arrived in pieces still has its CR.
    this.handleLine(text.endsWith('\r') ? text.slice(0, -1) : text)
  }

  private appendSmall (text: string): void {
    if (this.small.length + text.length > MAX_SMALL_TEXT) {
      this.smallOverflow = true
      return
    }
    this.small += text
  }

  private handleLine (raw: string): void {
    const line = raw.trim()
    switch (this.state) {
      case 'start':
        if (line === '') return
        if (/^\{\s*"items"\s*:\s*\[$/.test(line)) {
          this.state = 'items'
        } else if (line.startsWith('{')) {
          this.state = 'object'
          this.appendSmall(raw + '\n')
        } else {
          this.state = 'plain'
          this.appendSmall(raw + '\n')
        }
        return
      case 'plain':
      case 'object':
      case 'tail':
        this.appendSmall(raw + '\n')
        return
      case 'items':
        if (line === '' || line === ',') return
        if (line === ']' || line === '],') {
          this.state = 'tail'
          return
        }
        this.item(line.replace(/^,\s*/, '').replace(/,$/, ''))
        break
      case 'done':
        break
    }
  }

  private item (text: string): void {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      this.error ??= { kind: 'bolt-stream/invalid-document', message: `Bolt printed a result line that is not JSON: ${text.slice(0, 200)}` }
      return
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      this.error ??= { kind: 'bolt-stream/invalid-document', message: 'Bolt printed a result item that is not an object' }
      return
    }
    this.results.push(toTargetResult(parsed as BoltItem, this.options.type))
  }

  /** Called once Bolt's stdout has ended. */
  finish (): ParsedDocument {
    const state = this.state
    this.state = 'done'
    let error = this.error
    switch (state) {
      case 'start':
        error = { kind: 'bolt-stream/no-output', message: 'Bolt exited without printing a result document' }
        break
      case 'plain':
        error = { kind: 'bolt/cli-error', message: this.small.trim() + (this.smallOverflow ? ' …' : '') }
        break
      case 'items':
        error = { kind: 'bolt-stream/truncated-document', message: 'Bolt stopped before completing its result document' }
        break
      case 'object':
      case 'tail': {
        const text = state === 'tail' ? '{' + this.small : this.small
        let doc: Record<string, unknown> | null = null
        try {
          const value: unknown = this.smallOverflow ? null : JSON.parse(text)
          if (typeof value === 'object' && value !== null && !Array.isArray(value)) doc = value as Record<string, unknown>
        } catch { /* reported below */ }
        if (doc === null) {
          error = { kind: 'bolt-stream/truncated-document', message: 'Bolt stopped before completing its result document' }
        } else if (doc._error !== undefined) {
          error = toExecutionError(doc._error as BoltErrorObject)
        } else if (state === 'object') {
          error = { kind: 'bolt-stream/invalid-document', message: 'Bolt\'s result document has no "items" array' }
        }
        break
      }
      case 'done':
        throw new Error('finish() called twice')
    }
    return { results: this.results, error, truncated: this.truncated }
  }
}

function toExecutionError (raw: BoltErrorObject | undefined): ExecutionError {
  const error: ExecutionError = {
    kind: typeof raw?.kind === 'string' ? raw.kind : 'bolt/error',
    message: typeof raw?.msg === 'string' ? raw.msg : 'Bolt reported an error without a message'
  }
  if (typeof raw?.issue_code === 'string') error.issueCode = raw.issue_code
  return error
}

const COMMAND_ERROR = 'puppetlabs.tasks/command-error'

export function toTargetResult (item: BoltItem, type: ExecutionType): TargetResult {
  const value = (typeof item.value === 'object' && item.value !== null && !Array.isArray(item.value))
    ? { ...(item.value as Record<string, unknown>) }
    : {}
  const rawError = value._error as BoltErrorObject | undefined
  delete value._error
  const result: TargetResult = {
    target: String(item.target),
    status: item.status === 'success' ? 'success' : 'failed'
  }
  const details = rawError?.details as { exit_code?: unknown } | undefined
  const exitCode = typeof value.exit_code === 'number'
    ? value.exit_code
    : (typeof details?.exit_code === 'number' ? details.exit_code : undefined)
  if (exitCode !== undefined) result.exitCode = exitCode

  if (type === 'command' || type === 'puppet') {
    if (typeof value.stdout === 'string') result.stdout = value.stdout
    if (typeof value.stderr === 'string') result.stderr = value.stderr
  } else {
    if (typeof value._output === 'string') result.stdout = value._output
    delete value._output
    if (Object.keys(value).length > 0) result.value = value
  }
  if (rawError !== undefined) result.error = toExecutionError(rawError)

  // `puppet agent --test` exits 2 for "changes applied": a success, although Bolt calls it a failure.
  if (type === 'puppet' && result.error?.kind === COMMAND_ERROR && (exitCode === 2 || exitCode === 0)) {
    result.status = 'success'
    delete result.error
  }
  return result
}
