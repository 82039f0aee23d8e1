import type { ShowOutput } from './bolt-show.js'

// What a `bolt … show --format json` run answered: its document, or Bolt's error. Bolt prints
// one line of JSON; an error is a bare `{"kind","msg","details"}` object (exit 1), a command-line
// error plain text on stdout (exit 1), a crash a backtrace on stderr.

export type BoltAnswer =
  | { ok: true, document: Record<string, unknown> }
  | { ok: false, kind: string, message: string }

/** Bolt's messages can be long (a backtrace, a YAML excerpt): the answer keeps this much. */
const MAX_MESSAGE_CHARS = 2000

const clip = (text: string): string => text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text

function parseObject (text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/** A Ruby crash says what went wrong on its first line; the backtrace follows. */
function firstLine (text: string): string {
  return text.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? ''
}

export function readAnswer (output: ShowOutput): BoltAnswer {
  const text = output.stdout.trim()
  const document = parseObject(text)
  if (document !== undefined && typeof document.kind === 'string' && typeof document.msg === 'string') {
    return { ok: false, kind: document.kind, message: clip(document.msg) }
  }
  if (output.signal !== null) return { ok: false, kind: 'bolt-stream/bolt-killed', message: `Bolt was ended by ${output.signal}` }
  if (output.exitCode !== 0) {
    if (text.length > 0 && document === undefined) return { ok: false, kind: 'bolt/cli-error', message: clip(text) }
    const why = firstLine(output.stderr)
    return { ok: false, kind: 'bolt-stream/bolt-failed', message: clip(`Bolt exited with code ${String(output.exitCode)}${why.length > 0 ? `: ${why}` : ''}`) }
  }
  if (document === undefined) {
    return { ok: false, kind: 'bolt-stream/invalid-document', message: text.length === 0 ? 'Bolt printed nothing' : 'Bolt printed something other than a JSON object' }
  }
  return { ok: true, document }
}
