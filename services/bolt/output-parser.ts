import { StringDecoder } from 'node:string_decoder'
import { JsonStringCapper } from './json-string-capper.js'
import type { ExecutionError, ExecutionType, TargetResult } from '../../schemas/index.js'

// Bolt's stdout with `--format json --stream` carries two things on separate lines: the
// targets' live output (`[target] out: …` / `[target] err: …`) and, around it, the result
// document, printed one item per line as targets finish. This module separates the two and
// parses the document incrementally.

/** A `[`-led line longer than this cannot be a stream line (4096-byte reads plus a prefix). */
const MAX_STREAM_LINE_BYTES = 16384
/** Text kept for the document's head/tail and for plain-text fatal output. */
const MAX_SMALL_TEXT = 64 * 1024
/** Item keys whose values are never used: `merged_output` repeats stdout and stderr. */
export const UNUSED_KEYS: ReadonlySet<string> = new Set(['merged_output'])
const NL = 0x0a
const CR = 0x0d
const OPEN_BRACKET = 0x5b
/** `] out: ` and `] err: ` are 7 bytes. */
const MARK_LENGTH = 7

export interface OutputSink {
  output: (stream: 'stdout' | 'stderr', target: string, text: string) => void
}

export interface ParsedDocument {
  results: TargetResult[]
  /** Bolt's fatal error, or why the document is unusable; null when it is complete. */
  error: ExecutionError | null
  /** Some strings of the document were shortened to bound memory. */
  truncated: boolean
  /** A plan's return value: `result` when it fits the output budget, else `resultTruncated`. */
  plan?: { result?: unknown, resultTruncated?: true }
}

/** What the demux feeds the lines that are not stream lines to. */
export interface DocumentParser {
  pushFragment: (fragment: string) => void
  endLine: () => void
  /** Called once Bolt's stdout has ended and Bolt has exited (`exitCode` null: by a signal). */
  finish: (exitCode: number | null) => ParsedDocument
}

/**
 * Where `[target] out: ` / `[target] err: ` ends in `bytes[from, end)`: the first `] out: ` or
 * `] err: ` after at least one character of name (as the lazy `^\[(.+?)\] (out|err): ` would
 * match, so an IPv6 target `[::1]` and output containing `] out: ` both split right); the index
 * of its `]`, or -1 when it is no stream line.
 */
function streamMark (bytes: Buffer, from: number, end: number): number {
  for (let at = from + 2; at + MARK_LENGTH <= end; at++) {
    if (bytes[at] !== 0x5d || bytes[at + 1] !== 0x20 || bytes[at + 5] !== 0x3a || bytes[at + 6] !== 0x20) continue
    const a = bytes[at + 2]
    const b = bytes[at + 3]
    const c = bytes[at + 4]
    if ((a === 0x6f && b === 0x75 && c === 0x74) || (a === 0x65 && b === 0x72 && c === 0x72)) return at // out, err
  }
  return -1
}

const QUOTE = 0x22
const OPEN_BRACE = 0x7b

/**
 * Whether the would-be target name `bytes[from, end)` is the start of a JSON array instead:
 * `[{"target":…`, `["a] out: b"]`, `[1,"…`. Bolt's target names (inventory names and URIs) never
 * start with `{`, `[` or `"` and never hold a `"`.
 */
function isJsonArrayHead (bytes: Buffer, from: number, end: number): boolean {
  const first = bytes[from]
  if (first === OPEN_BRACE || first === OPEN_BRACKET || first === QUOTE) return true
  return bytes.subarray(from, end).includes(QUOTE)
}

const isContinuation = (byte: number | undefined): boolean => byte !== undefined && (byte & 0xc0) === 0x80

/** How many bytes at the end of `bytes` are the start of a UTF-8 character that is not complete. */
function unfinishedCharBytes (bytes: Buffer, from: number, end: number): number {
  for (let i = end - 1; i >= from && i >= end - 4; i--) {
    const b = bytes[i]
    if (isContinuation(b)) continue
    const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1
    return length > end - i ? end - i : 0
  }
  return 0
}

/**
 * Splits Bolt's stdout bytes into lines; routes stream lines to the sink and everything else
 * to the document parser. Long document lines are forwarded in fragments.
 *
 * Bolt prints each 4096-byte read of a target's output as its own stream line, so a read that
 * ends inside a UTF-8 character leaves the character's first bytes at the end of one line and
 * the rest at the start of that target's next line of the same stream: such lines are one line
 * and their bytes are joined before they are decoded.
 */
export class BoltStdoutDemux {
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** The current line is known to belong to the document and is being forwarded in pieces. */
  private forwarding = false
  private readonly documentDecoder = new StringDecoder('utf8')
  private lastTarget = { bytes: Buffer.alloc(0), name: '' }
  /** Per stream and target: the first bytes of a character their last stream line ended inside. */
  private readonly unfinished = new Map<string, { stream: 'stdout' | 'stderr', target: string, bytes: Buffer }>()

  /**
   * `jsonLines`: a plan's return value is a compact JSON line that may start with `[` (an array,
   * a ResultSet); such a line is never taken for a stream line (see `isJsonArrayHead`).
   */
  constructor (private readonly sink: OutputSink, private readonly document: DocumentParser, private readonly jsonLines = false) {}

  push (chunk: Buffer): void {
    let from = 0
    for (;;) {
      const nl = chunk.indexOf(NL, from)
      if (nl === -1) break
      const start = from
      from = nl + 1
      if (this.forwarding) {
        this.documentFragment(chunk.subarray(start, nl))
        this.documentLineEnd()
        this.forwarding = false
        continue
      }
      if (this.pendingBytes > 0) {
        const line = Buffer.concat([...this.pending, chunk.subarray(start, nl)])
        this.pending = []
        this.pendingBytes = 0
        this.line(line, 0, line[line.length - 1] === CR ? line.length - 1 : line.length)
      } else {
        this.line(chunk, start, nl > start && chunk[nl - 1] === CR ? nl - 1 : nl)
      }
    }
    if (from < chunk.length) this.partial(chunk.subarray(from))
  }

  /** End of stdout: a last line without a newline still counts. */
  end (): void {
    if (this.forwarding) {
      this.documentLineEnd()
      this.forwarding = false
    } else if (this.pendingBytes > 0) {
      const line = Buffer.concat(this.pending)
      this.pending = []
      this.pendingBytes = 0
      this.line(line, 0, line.length)
    }
    // Characters that were never finished stay broken, as Bolt printed them.
    for (const { stream, target, bytes } of this.unfinished.values()) this.sink.output(stream, target, bytes.toString('utf8') + '\n')
    this.unfinished.clear()
  }

  private partial (rest: Buffer): void {
    if (this.forwarding) return this.documentFragment(rest)
    this.pending.push(rest)
    this.pendingBytes += rest.length
    // Only `[`-led lines can be stream lines; anything else (or an overlong one) is document text.
    if (this.pending[0][0] !== OPEN_BRACKET || this.pendingBytes > MAX_STREAM_LINE_BYTES) {
      for (const piece of this.pending) this.documentFragment(piece)
      this.pending = []
      this.pendingBytes = 0
      this.forwarding = true
    }
  }

  /** The line `bytes[from, end)`, without its line end. */
  private line (bytes: Buffer, from: number, end: number): void {
    const mark = bytes[from] === OPEN_BRACKET ? streamMark(bytes, from, end) : -1
    if (mark === -1 || (this.jsonLines && isJsonArrayHead(bytes, from + 1, mark))) {
      this.documentFragment(bytes.subarray(from, end))
      return this.documentLineEnd()
    }
    const stream = bytes[mark + 2] === 0x6f ? 'stdout' : 'stderr' // 'o' of `out`
    this.streamLine(stream, this.targetName(bytes, from + 1, mark), bytes, mark + MARK_LENGTH, end)
  }

  /** The target name in `bytes[from, end)`; the last one is reused while lines repeat it. */
  private targetName (bytes: Buffer, from: number, end: number): string {
    const last = this.lastTarget
    if (last.bytes.length === end - from) {
      let i = 0
      while (i < last.bytes.length && last.bytes[i] === bytes[from + i]) i++
      if (i === last.bytes.length) return last.name
    }
    const name = bytes.toString('utf8', from, end)
    this.lastTarget = { bytes: Buffer.from(bytes.subarray(from, end)), name }
    return name
  }

  private streamLine (stream: 'stdout' | 'stderr', target: string, bytes: Buffer, from: number, end: number): void {
    if (this.unfinished.size > 0) {
      const key = `${stream} ${target}`
      const held = this.unfinished.get(key)
      if (held !== undefined) {
        this.unfinished.delete(key)
        // The rest of the character: this line continues the last one, cut at a read.
        if (from < end && isContinuation(bytes[from])) {
          const joined = Buffer.concat([held.bytes, bytes.subarray(from, end)])
          return this.streamLine(stream, target, joined, 0, joined.length)
        }
        this.sink.output(stream, target, held.bytes.toString('utf8') + '\n')
      }
    }
    const cut = unfinishedCharBytes(bytes, from, end)
    if (cut === 0) return this.sink.output(stream, target, bytes.toString('utf8', from, end) + '\n')
    // Held (a copy: the chunk it came in is not kept) until the line that finishes it.
    this.unfinished.set(`${stream} ${target}`, { stream, target, bytes: Buffer.from(bytes.subarray(end - cut, end)) })
    if (end - cut > from) this.sink.output(stream, target, bytes.toString('utf8', from, end - cut))
  }

  private documentFragment (bytes: Buffer): void {
    const text = this.documentDecoder.write(bytes)
    if (text.length > 0) this.document.pushFragment(text)
  }

  private documentLineEnd (): void {
    const rest = this.documentDecoder.end()
    if (rest.length > 0) this.document.pushFragment(rest)
    this.document.endLine()
  }
}

type DocState = 'start' | 'plain' | 'object' | 'items' | 'tail' | 'done'

export interface BoltItem {
  target?: unknown
  status?: unknown
  value?: unknown
}

export interface BoltErrorObject {
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
export class BoltDocumentParser implements DocumentParser {
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
    this.handleLine(text.endsWith('\r') ? text.slice(0, -1) : text, capper.truncated)
  }

  private appendSmall (text: string): void {
    if (this.small.length + text.length > MAX_SMALL_TEXT) {
      this.smallOverflow = true
      return
    }
    this.small += text
  }

  /** `cut`: strings of the line were shortened (an item line is one target's result). */
  private handleLine (raw: string, cut = false): void {
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
        this.item(line.replace(/^,\s*/, '').replace(/,$/, ''), cut)
        break
      case 'done':
        break
    }
  }

  private item (text: string, cut: boolean): void {
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
    const result = toTargetResult(parsed as BoltItem, this.options.type)
    // Its texts are no longer Bolt's exactly.
    if (cut) result.outputTruncated = true
    this.results.push(result)
  }

  /** Called once Bolt's stdout has ended. */
  finish (_exitCode?: number | null): ParsedDocument {
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

export function toExecutionError (raw: BoltErrorObject | undefined): ExecutionError {
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
