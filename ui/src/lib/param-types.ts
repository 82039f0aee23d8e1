import type { Parameter } from '../../../schemas/discovery.js'

/** How a parameter is entered, from its Puppet type. */
export type InputKind = 'text' | 'password' | 'number' | 'integer' | 'boolean' | 'enum' | 'json'

export interface ParamInput {
  kind: InputKind
  required: boolean
  /** Enum values. */
  options: string[]
}

/** Reads a Puppet type (`Optional[Integer[1, 10]]`, `Enum[a, b]`, `Boolean`, `Array[String]`, …). */
export function paramInput (param: Parameter): ParamInput {
  let type = (param.type ?? 'String').trim()
  let optional = param.default !== undefined
  const wrapped = /^Optional\[(.*)\]$/s.exec(type)
  if (wrapped !== null) {
    optional = true
    type = wrapped[1].trim()
  }
  if (/^Sensitive\b/.test(type)) type = type.replace(/^Sensitive\[(.*)\]$/s, '$1') || 'String'
  const required = !optional && type !== 'Any' && !/^Variant\[.*Undef/.test(type)
  const base = type.split('[')[0]
  if (param.sensitive || /^Sensitive\b/.test(param.type ?? '')) return { kind: 'password', required, options: [] }
  if (base === 'Boolean') return { kind: 'boolean', required, options: [] }
  if (base === 'Integer') return { kind: 'integer', required, options: [] }
  if (base === 'Float' || base === 'Numeric') return { kind: 'number', required, options: [] }
  if (base === 'Enum') {
    const options = [...type.matchAll(/['"]?([^,'"[\]\s]+)['"]?/g)].map((m) => m[1]).filter((v) => v !== 'Enum')
    return { kind: 'enum', required, options }
  }
  // TargetSpec and String-like types stay text (a TargetSpec takes `web1,web2`).
  if (['Array', 'Hash', 'Tuple', 'Struct', 'Variant', 'Data', 'Any'].includes(base)) {
    return { kind: 'json', required, options: [] }
  }
  return { kind: 'text', required, options: [] }
}

/** The value to send for what was entered; undefined: leave the parameter out (its default applies). */
export function paramValue (input: ParamInput, raw: string, name: string): unknown {
  if (raw === '') return undefined
  switch (input.kind) {
    case 'boolean': return raw === 'true'
    case 'integer': {
      if (!/^-?\d+$/.test(raw.trim())) throw new Error(`${name} must be a whole number`)
      return Number(raw)
    }
    case 'number': {
      const n = Number(raw)
      if (raw.trim() === '' || !Number.isFinite(n)) throw new Error(`${name} must be a number`)
      return n
    }
    case 'json':
      try {
        return JSON.parse(raw)
      } catch {
        throw new Error(`${name} must be JSON (an array like ["a"], an object like {"k": 1})`)
      }
    default: return raw
  }
}
