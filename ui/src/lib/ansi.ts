import Anser from 'anser'

/** A run of text with one look. Rendered as a text node: output is never markup. */
export interface Segment {
  text: string
  /** `r, g, b` as anser gives it, or null. */
  fg: string | null
  bg: string | null
  classes: string
}

// Operating System Commands (ESC ] … BEL or ESC \): titles, hyperlinks (OSC 8), clipboard writes
// (OSC 52). A terminal acts on them; the viewer drops them, so a target cannot make a link, set
// the title or touch the clipboard. The visible text between them stays.
// eslint-disable-next-line no-control-regex
const OSC = /\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?/g
// Control characters left after the colours are parsed (a stray ESC, BEL, backspace, CR…) are
// shown as their Unicode control pictures, not acted upon. Tab stays a tab.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g

function visible (text: string): string {
  return text.replace(CONTROL, (c) => c === '\u007f' ? '\u2421' : String.fromCharCode(0x2400 + c.charCodeAt(0)))
}

const DECORATIONS = new Set(['bold', 'dim', 'italic', 'underline', 'blink', 'reverse', 'hidden', 'strikethrough'])

/** A line of output as styled segments; text without escapes is one plain segment (the common, fast case). */
export function segments (line: string): Segment[] {
  if (!line.includes('\u001b')) return [{ text: visible(line), fg: null, bg: null, classes: '' }]
  const chunks = Anser.ansiToJson(line.replace(OSC, ''), { json: true, remove_empty: true })
  return chunks.map((chunk) => ({
    text: visible(chunk.content),
    fg: chunk.fg === null || chunk.fg === '' ? null : chunk.fg,
    bg: chunk.bg === null || chunk.bg === '' ? null : chunk.bg,
    classes: (chunk.decorations ?? []).filter((d) => DECORATIONS.has(d)).map((d) => `ansi-${d}`).join(' ')
  }))
}

/** The line's text without escapes, for search and copy. */
export function plainText (line: string): string {
  if (!line.includes('\u001b')) return line
  return segments(line).map((s) => s.text).join('')
}
