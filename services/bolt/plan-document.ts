import { JsonStringCapper } from './json-string-capper.js'
import { toExecutionError, toTargetResult, type BoltErrorObject, type BoltItem, type DocumentParser, type ParsedDocument } from './output-parser.js'
import type { ExecutionError, TargetResult } from '../../schemas/index.js'

// `bolt plan run --format json` prints no items wrapper. Besides the stream lines, its stdout
// holds one line: the plan's return value as compact JSON (an object, an array — a returned
// ResultSet is an array of results —, a string, a number, or `null` when it returned nothing),
// or, when the plan failed, Bolt's bare error object `{"kind","msg","details"}`. A command-line
// error is one line of plain text instead.

/** Plain text kept for a command-line error's message. */
const MAX_PLAIN_TEXT = 64 * 1024
const ERROR_KEYS: ReadonlySet<string> = new Set(['kind', 'msg', 'details', 'issue_code'])

export interface PlanDocumentOptions {
  /** Longest string kept from the line (characters as written); bounds memory. */
  maxStringChars: number
  /** The return value is kept when its JSON text is at most this long; else only flagged. */
  maxResultChars: number
}

interface Line {
  text: string
  cut: boolean
}

export class PlanDocumentParser implements DocumentParser {
  private capper: JsonStringCapper | null = null
  private last: Line | null = null
  private plain = ''

  constructor (private readonly options: PlanDocumentOptions) {}

  pushFragment (fragment: string): void {
    // The return value is kept exactly: no key of it is dropped, only overlong strings cut.
    this.capper ??= new JsonStringCapper(this.options.maxStringChars)
    this.capper.push(fragment)
  }

  endLine (): void {
    const capper = this.capper
    this.capper = null
    if (capper === null) return
    const text = capper.text().trim()
    if (text === '') return
    this.last = { text, cut: capper.truncated }
    if (this.plain.length + text.length < MAX_PLAIN_TEXT) this.plain += text + '\n'
  }

  finish (exitCode: number | null): ParsedDocument {
    const last = this.last
    if (last === null) return failure({ kind: 'bolt-stream/no-output', message: 'Bolt exited without printing the plan\'s result' })
    let value: unknown
    try {
      value = JSON.parse(last.text)
    } catch {
      // Not JSON: a command-line error, printed as plain text.
      return failure({ kind: 'bolt/cli-error', message: this.plain.trim() })
    }
    if (exitCode !== 0 && isBoltError(value)) return planFailure(value)
    if (exitCode !== 0) {
      const how = exitCode === null ? 'was killed' : `exited with code ${exitCode}`
      return failure({ kind: 'bolt-stream/plan-error', message: `Bolt ${how} after printing the plan's result` })
    }
    return this.returned(value, last)
  }

  private returned (value: unknown, line: Line): ParsedDocument {
    const results = isResultSet(value) ? value.map(resultOf) : []
    // A cut value is no longer the plan's: it is left out rather than shown altered.
    const fits = !line.cut && line.text.length <= this.options.maxResultChars
    return {
      results,
      error: null,
      truncated: !fits,
      plan: fits ? { result: value } : { resultTruncated: true }
    }
  }
}

function failure (error: ExecutionError): ParsedDocument {
  return { results: [], error, truncated: false, plan: {} }
}

/** `bolt/run-failure` carries the results of the step that failed: they become the results. */
function planFailure (raw: BoltErrorObject): ParsedDocument {
  const details = raw.details as { result_set?: unknown } | undefined
  const results = isResultSet(details?.result_set) ? details.result_set.map(resultOf) : []
  return { results, error: toExecutionError(raw), truncated: false, plan: {} }
}

function isBoltError (value: unknown): value is BoltErrorObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const object = value as Record<string, unknown>
  return typeof object.kind === 'string' && typeof object.msg === 'string' && Object.keys(object).every((k) => ERROR_KEYS.has(k))
}

/** Bolt prints a ResultSet as an array of `{target, action, object, status, value}`. */
function isResultSet (value: unknown): value is BoltItem[] {
  return Array.isArray(value) && value.length > 0 && value.every((item) =>
    typeof item === 'object' && item !== null && typeof item.target === 'string' && typeof item.status === 'string')
}

/** A step's result in the shape of the other executions': a command's as a command's, a task's as a task's. */
function resultOf (item: BoltItem & { action?: unknown }): TargetResult {
  const asCommand = item.action === 'command' || item.action === 'script'
  return toTargetResult(item, asCommand ? 'command' : 'task')
}
