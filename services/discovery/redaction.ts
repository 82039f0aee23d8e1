import { isSecretName, redactCommand } from '../bolt/arguments.js'

// What the discovery answers must not show: the values of secret-named keys (at any depth), and
// secrets a value carries in a form of its own (a URL's password, a PEM private key).

export const REDACTED = '[REDACTED]'

const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/

/** A string as shown: a PEM private key entirely, else with the secrets the command rules find redacted. */
export function redactText (text: string): string {
  if (PEM_PRIVATE_KEY.test(text)) return REDACTED
  return redactCommand(text)
}

/** A copy of `value` with secret-named keys' values and secrets inside strings redacted, at any depth. */
export function redactSecrets (value: unknown): unknown {
  if (typeof value === 'string') return redactText(value)
  if (Array.isArray(value)) return value.map(redactSecrets)
  if (typeof value !== 'object' || value === null) return value
  // fromEntries defines own properties: a `__proto__` key stays a key.
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, isSecretName(key) ? REDACTED : redactSecrets(inner)]))
}
