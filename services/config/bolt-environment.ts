/** Environment variables Bolt may see; the service's own secrets stay out. */
export const BOLT_ENV_ALLOWLIST = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'SSH_AUTH_SOCK'
]

/** The environment of a Bolt process: the allowlisted variables of `source`, `extra` names, no analytics. */
export function boltEnvironment (source: NodeJS.ProcessEnv, extra: readonly string[] = []): Record<string, string> {
  const env: Record<string, string> = {}
  for (const name of [...BOLT_ENV_ALLOWLIST, ...extra]) {
    const value = source[name]
    if (value !== undefined) env[name] = value
  }
  env.BOLT_DISABLE_ANALYTICS = '1'
  return env
}
