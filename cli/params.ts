import { InvalidArgumentError } from 'commander'

/** `-p key=value`: the value as JSON when it is JSON (`3`, `true`, `["a"]`), else as the text itself. */
export function collectParam (pair: string, params: Record<string, unknown> = {}): Record<string, unknown> {
  const at = pair.indexOf('=')
  if (at <= 0) throw new InvalidArgumentError(`expected key=value, got ${JSON.stringify(pair)}`)
  const key = pair.slice(0, at)
  const text = pair.slice(at + 1)
  let value: unknown = text
  try { value = JSON.parse(text) } catch { value = text }
  return { ...params, [key]: value }
}

/** `--params '{"a": 1}'`: a JSON object. */
export function parseParamsJson (text: string): Record<string, unknown> {
  let value: unknown
  try { value = JSON.parse(text) } catch { throw new InvalidArgumentError('not JSON') }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError('expected a JSON object')
  return value as Record<string, unknown>
}

/** `-t web1,web2` (repeatable): the names, without blanks. */
export function collectTargets (list: string, targets: string[] = []): string[] {
  const names = list.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
  if (names.length === 0) throw new InvalidArgumentError('expected one or more target names, comma-separated')
  return [...targets, ...names]
}

export function positiveInteger (text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of 1 or more')
  return n
}
