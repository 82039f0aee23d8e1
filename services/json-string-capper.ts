// Copies a JSON text that arrives in fragments, keeping about `maxStringChars` characters
// (as written; an escape at the limit is kept whole, so up to 5 more) of each string. Bolt puts a target's whole output into one
// line of its result document; this keeps the memory for that line bounded whatever the
// target printed, and the shortened text is still valid JSON.
export class JsonStringCapper {
  private parts: string[] = []
  private length = 0
  private inString = false
  private escaped = false
  private hexLeft = 0
  private stringChars = 0
  private dropping = false
  /** True once any string was shortened. */
  truncated = false

  constructor (private readonly maxStringChars: number) {}

  push (fragment: string): void {
    let start = 0
    let i = 0
    const n = fragment.length
    while (i < n) {
      if (!this.inString) {
        const quote = fragment.indexOf('"', i)
        if (quote === -1) break
        i = quote + 1
        this.inString = true
        this.stringChars = 0
        continue
      }
      const c = fragment.charCodeAt(i)
      const atUnitStart = !this.escaped && this.hexLeft === 0
      if (atUnitStart && c === 0x22 /* " */) {
        this.inString = false
        if (this.dropping) {
          this.dropping = false
          start = i // the closing quote is kept
        }
        i++
        continue
      }
      // Cut only where a whole character or escape begins (never inside a surrogate pair).
      if (atUnitStart && !this.dropping && this.stringChars >= this.maxStringChars && (c < 0xdc00 || c > 0xdfff)) {
        this.keep(fragment.slice(start, i))
        this.dropping = true
        this.truncated = true
      }
      if (this.hexLeft > 0) {
        this.hexLeft--
      } else if (this.escaped) {
        this.escaped = false
        if (c === 0x75 /* u */) this.hexLeft = 4
      } else if (c === 0x5c /* \ */) {
        this.escaped = true
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
    return this.parts.join('')
  }
}
