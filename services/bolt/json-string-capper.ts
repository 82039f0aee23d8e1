// Copies a JSON text that arrives in fragments, keeping about `maxStringChars` characters
// (as written; an escape at the limit is kept whole, so up to 5 more) of each string, and
// nothing of the values of `dropKeys`. Bolt puts a target's whole output into one line of its
// result document (twice: `stdout` and `merged_output`); this keeps the memory for that line
// bounded whatever the target printed, and the shortened text is still valid JSON.
export class JsonStringCapper {
  private parts: string[] = []
  private length = 0
  private inString = false
  private escaped = false
  private hexLeft = 0
  private stringChars = 0
  private dropping = false
  /** The current string's text while it may still turn out to be a key. */
  private keyText: string | null = ''
  /** The last string that ended, if short enough to be a key we care about. */
  private lastString: string | null = null
  /** The next value belongs to a dropped key. */
  private dropNext = false
  /** True once any string was shortened. */
  truncated = false

  constructor (private readonly maxStringChars: number, private readonly dropKeys: ReadonlySet<string> = new Set()) {}

  // One loop on purpose (it is longer than the house's 60 lines): it runs over every character
  // of Bolt's result document, the largest text the service reads, and keeps its cursor and the
  // parser state in locals; split up, it would add calls per run of characters on that hot path.
  push (fragment: string): void {
    let start = 0
    let i = 0
    const n = fragment.length
    while (i < n) {
      if (!this.inString) {
        const quote = fragment.indexOf('"', i)
        const between = fragment.slice(i, quote === -1 ? n : quote)
        if (between.includes(':') && this.lastString !== null && this.dropKeys.has(this.lastString)) this.dropNext = true
        if (/[,{}[\]]/.test(between)) this.lastString = null
        if (quote === -1) break
        i = quote + 1
        this.inString = true
        this.stringChars = 0
        this.keyText = this.dropKeys.size > 0 ? '' : null
        if (this.dropNext) {
          // A dropped key's value: keep the quotes, nothing between.
          this.dropNext = false
          this.keep(fragment.slice(start, i))
          this.dropping = true
          start = i
        }
        continue
      }
      if (!this.escaped && this.hexLeft === 0) {
        // Jump over a run of plain characters in one step.
        const stop = nextSpecial(fragment, i)
        const run = stop - i
        if (run > 0) {
          if (!this.dropping && this.stringChars + run > this.maxStringChars) {
            let cut = i + Math.max(0, this.maxStringChars - this.stringChars)
            // Never between the halves of a surrogate pair: the low half comes along.
            const c = fragment.charCodeAt(cut)
            if (c >= 0xdc00 && c <= 0xdfff) cut++
            this.keep(fragment.slice(start, cut))
            this.dropping = true
            this.truncated = true
          }
          if (this.keyText !== null) this.keyText = this.keyText.length + run <= 64 ? this.keyText + fragment.slice(i, stop) : null
          this.stringChars += run
          i = stop
          continue
        }
        const c = fragment.charCodeAt(i)
        if (c === 0x22 /* " */) {
          this.inString = false
          this.lastString = this.keyText
          if (this.dropping) {
            this.dropping = false
            start = i // the closing quote is kept
          }
          i++
          continue
        }
        // A backslash starts an escape; cut before it when at the limit.
        if (!this.dropping && this.stringChars >= this.maxStringChars) {
          this.keep(fragment.slice(start, i))
          this.dropping = true
          this.truncated = true
        }
        this.escaped = true
        this.keyText = null
        this.stringChars++
        i++
        continue
      }
      const c = fragment.charCodeAt(i)
      if (this.hexLeft > 0) {
        this.hexLeft--
      } else {
        this.escaped = false
        if (c === 0x75 /* u */) this.hexLeft = 4
      }
      this.stringChars++
      i++
    }
    if (!this.dropping) this.keep(fragment.slice(start))
  }

  private keep (text: string): void {
    if (text.length === 0) return
    this.parts.push(text)
    this.length += text.length
  }

  get size (): number {
    return this.length
  }

  text (): string {
    return this.parts.length === 1 ? this.parts[0] : this.parts.join('')
  }
}

const SPECIAL = /["\\]/g

/** Index of the next `"` or `\` at or after `from` (or the end), in one linear scan. */
function nextSpecial (text: string, from: number): number {
  SPECIAL.lastIndex = from
  const m = SPECIAL.exec(text)
  return m === null ? text.length : m.index
}
