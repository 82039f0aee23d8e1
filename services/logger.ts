import type { BaseLogger } from 'pino'

/** The one logger type of the services: pino's logging methods (Fastify's `fastify.log` has them). */
export type Logger = Pick<BaseLogger, 'level' | 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>

type Method = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
const METHODS: Method[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace']

/** `logger` with `fields` on every line (pino's child, for loggers that are only a Logger). */
export function withFields (logger: Logger, fields: Record<string, unknown>): Logger {
  const bound = (method: Method) => (first: unknown, ...rest: unknown[]): void => {
    const merged = first instanceof Error
      ? { ...fields, err: first }
      : typeof first === 'object' && first !== null ? { ...fields, ...first } : fields
    const args = typeof first === 'object' && first !== null ? rest : [first, ...rest]
    ;(logger[method] as (...a: unknown[]) => void)(merged, ...args)
  }
  const wrapped = Object.fromEntries(METHODS.map((m) => [m, bound(m)]))
  return Object.defineProperties(wrapped, {
    silent: { value: logger.silent },
    level: { get: () => logger.level, set: (value: string) => { logger.level = value } }
  }) as unknown as Logger
}
