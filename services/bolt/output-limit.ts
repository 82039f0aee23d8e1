// A byte budget for an execution's output. Text beyond it is cut at the last whole UTF-8
// character that fits; everything after is dropped.

/** The longest prefix of `text` whose UTF-8 encoding fits in `maxBytes`. */
export function cutUtf8 (text: string, maxBytes: number): string {
  if (maxBytes <= 0) return ''
  // Fast paths: even at 3 bytes per UTF-16 unit it fits; or it fits when measured.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes) return text
  const buf = Buffer.from(text, 'utf8')
  let end = maxBytes
  // Step back over continuation bytes so no character is split.
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--
  return buf.toString('utf8', 0, end)
}

export class OutputBudget {
  private used = 0
  exhausted = false

  constructor (readonly maxBytes: number) {}

  get usedBytes (): number {
    return this.used
  }

  /**
   * Returns the part of `text` that still fits ('' once the budget is spent) and whether
   * this call crossed the limit.
   */
  take (text: string): { text: string, crossed: boolean } {
    if (this.exhausted) return { text: '', crossed: false }
    const bytes = Buffer.byteLength(text, 'utf8')
    if (this.used + bytes <= this.maxBytes) {
      this.used += bytes
      return { text, crossed: false }
    }
    const kept = cutUtf8(text, this.maxBytes - this.used)
    this.used += Buffer.byteLength(kept, 'utf8')
    this.exhausted = true
    return { text: kept, crossed: true }
  }
}
