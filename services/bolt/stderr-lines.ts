import { StringDecoder } from 'node:string_decoder'
import { stripVTControlCharacters } from 'node:util'

/** Bolt's stderr longer than this without a newline is passed on in pieces rather than held. */
const MAX_PENDING_CHARS = 65536
const STDERR_TAIL_CHARS = 4096

/**
 * Bolt's own stderr (its log lines, plan messages) as lines without ANSI codes. The
 * `stream_experimental` warning that `--stream` prints is not news to anyone: it is dropped.
 * The last few kilobytes are kept for errors that have nothing else to say.
 */
export class StderrLines {
  private readonly decoder = new StringDecoder('utf8')
  private pending = ''
  tail = ''

  constructor (
    private readonly line: (text: string) => void,
    private readonly dropped: (text: string) => void
  ) {}

  push (chunk: Buffer): void {
    this.text(this.decoder.write(chunk))
  }

  end (): void {
    this.text(this.decoder.end())
    if (this.pending.length > 0) this.emit(this.pending)
    this.pending = ''
  }

  private text (text: string): void {
    this.pending += text
    let nl: number
    while ((nl = this.pending.indexOf('\n')) !== -1) {
      this.emit(this.pending.slice(0, nl))
      this.pending = this.pending.slice(nl + 1)
    }
    if (this.pending.length > MAX_PENDING_CHARS) {
      this.line(stripVTControlCharacters(this.pending))
      this.pending = ''
    }
  }

  private emit (raw: string): void {
    const line = stripVTControlCharacters(raw)
    if (line.includes('[ID: stream_experimental]')) return this.dropped(line)
    this.tail = (this.tail + line + '\n').slice(-STDERR_TAIL_CHARS)
    this.line(line + '\n')
  }
}
