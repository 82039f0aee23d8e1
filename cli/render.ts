import type { ExecutionRecord, ExecutionStatus, LoggedEvent, TargetResult } from '../schemas/index.js'
import { painter, stripControls, type Colour } from './terminal-text.js'

export interface Output {
  write: (text: string) => unknown
  isTTY?: boolean
}

export interface Terminal {
  stdout: Output
  stderr: Output
  /** NO_COLOR set: no colours even on a terminal. */
  noColor?: boolean
}

const STATUS_COLOURS: Record<ExecutionStatus, Colour> = {
  queued: 'dim',
  running: 'cyan',
  success: 'green',
  partial: 'yellow',
  failed: 'red',
  cancelled: 'yellow',
  timed_out: 'red',
  interrupted: 'red'
}

/**
 * Writes an execution's events as they come: output lines prefixed `[target] ` (`[bolt] ` for Bolt's
 * own), stdout events to stdout and stderr events to stderr; on a terminal, with colours, without the
 * control sequences of the output, and with a status line while nothing is printed.
 */
export class EventPrinter {
  readonly #term: Terminal
  readonly #colour: { out: ReturnType<typeof painter>, err: ReturnType<typeof painter> }
  /** Keys (stream and target) whose last output did not end its line. */
  readonly #open = new Set<string>()
  #sawOutput = false
  #statusLine = ''

  constructor (term: Terminal) {
    this.#term = term
    this.#colour = {
      out: painter(term.stdout.isTTY === true && term.noColor !== true),
      err: painter(term.stderr.isTTY === true && term.noColor !== true)
    }
  }

  /** Whether status lines are drawn (stderr is a terminal). */
  get live (): boolean { return this.#term.stderr.isTTY === true }

  event (event: LoggedEvent): void {
    switch (event.type) {
      case 'stdout':
      case 'stderr':
        this.#sawOutput = true
        this.#output(event.type, event.data.target, event.data.output)
        break
      case 'command':
        this.#note(this.#colour.err('dim', `$ ${this.#clean('stderr', event.data.command)}`))
        break
      case 'status':
        this.#note(`${this.#colour.err('dim', 'status')} ${this.#status(event.data.status)}`)
        break
      case 'complete':
        this.#closeLines()
        // Without expert mode no output was streamed: the results' texts (when the reader may see them).
        if (!this.#sawOutput) for (const result of event.data.results) this.#resultText(result)
        for (const result of event.data.results) this.#note(this.#resultLine(result))
        if (event.data.outputTruncated) this.#note(this.#colour.err('yellow', 'output was cut to the service\'s limit'))
        this.#note(`${this.#colour.err('bold', 'finished')} ${this.#status(event.data.status)}`)
        break
      case 'error':
        this.#closeLines()
        this.#note(`${this.#colour.err('bold', 'finished')} ${this.#status(event.data.status)}: ${this.#clean('stderr', event.data.error.message)} (${event.data.error.kind})`)
        break
    }
  }

  /** A status line (terminal only), replaced by the next one and cleared before any other output. */
  status (text: string): void {
    if (!this.live) return
    this.#statusLine = text
    this.#term.stderr.write(`\r\u001b[K${this.#colour.err('dim', text)}`)
  }

  clearStatus (): void {
    if (this.#statusLine === '') return
    this.#statusLine = ''
    this.#term.stderr.write('\r\u001b[K')
  }

  /** A record, readably. */
  record (record: ExecutionRecord): void {
    const out = this.#term.stdout
    const c = this.#colour.out
    const lines = [
      `${c('bold', record.id)}  ${c(STATUS_COLOURS[record.status], record.status)}`,
      `type:      ${record.type}`,
      `action:    ${this.#clean('stdout', record.action)}`,
      `targets:   ${record.targets.join(', ')}`,
      `started:   ${record.startedAt}`,
      `completed: ${record.completedAt ?? '-'}`,
      `expert:    ${String(record.expertMode)}`
    ]
    if (record.requestedBy !== null) lines.push(`by:        ${record.requestedBy}`)
    if (record.rerunOf !== null) lines.push(`rerun of:  ${record.rerunOf}`)
    if (record.command !== null) lines.push(`command:   ${this.#clean('stdout', record.command)}`)
    if (record.error !== null) lines.push(`error:     ${this.#clean('stdout', record.error.message)} (${record.error.kind})`)
    for (const result of record.results) lines.push(`  ${result.target}: ${c(result.status === 'success' ? 'green' : 'red', result.status)}${result.exitCode === undefined ? '' : ` (exit ${result.exitCode})`}${result.error === undefined ? '' : ` ${this.#clean('stdout', result.error.message)}`}`)
    out.write(lines.join('\n') + '\n')
  }

  #status (status: ExecutionStatus): string {
    return this.#colour.err(STATUS_COLOURS[status], status)
  }

  #resultLine (result: TargetResult): string {
    const c = this.#colour.err
    const exit = result.exitCode === undefined ? '' : ` (exit ${result.exitCode})`
    const error = result.error === undefined ? '' : `: ${this.#clean('stderr', result.error.message)}`
    return `${c('bold', `[${result.target}]`)} ${c(result.status === 'success' ? 'green' : 'red', result.status)}${exit}${error}`
  }

  #resultText (result: TargetResult): void {
    if (result.stdout !== undefined && result.stdout.length > 0) this.#output('stdout', result.target, result.stdout)
    if (result.stderr !== undefined && result.stderr.length > 0) this.#output('stderr', result.target, result.stderr)
    this.#closeLines()
  }

  #output (stream: 'stdout' | 'stderr', target: string | null, text: string): void {
    this.clearStatus()
    const key = `${stream}\u0000${target ?? ''}`
    const prefix = this.#colour[stream === 'stdout' ? 'out' : 'err']('bold', `[${target ?? 'bolt'}] `)
    let written = ''
    const lines = this.#clean(stream, text).split('\n')
    lines.forEach((line, i) => {
      const last = i === lines.length - 1
      if (last && line === '') return
      if (!this.#open.has(key)) written += prefix
      written += line
      if (last) this.#open.add(key)
      else {
        written += '\n'
        this.#open.delete(key)
      }
    })
    this.#term[stream].write(written)
  }

  /** Ends every line left open, so what follows starts on a line of its own. */
  #closeLines (): void {
    for (const key of this.#open) this.#term[key.startsWith('stdout') ? 'stdout' : 'stderr'].write('\n')
    this.#open.clear()
  }

  #note (line: string): void {
    this.clearStatus()
    this.#term.stderr.write(line + '\n')
  }

  #clean (stream: 'stdout' | 'stderr', text: string): string {
    return this.#term[stream].isTTY === true ? stripControls(text) : text
  }
}
