import type { BaseLogger } from 'pino'

/** The one logger type of the services: pino's logging methods (Fastify's `fastify.log` has them). */
export type Logger = Pick<BaseLogger, 'level' | 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>
