import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'

// One place that shapes every error response as `{error: {code, message}}` and keeps the
// internals of 5xx errors out of responses.

const FRAMEWORK_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'BOLT_STREAM_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BOLT_STREAM_BODY_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BOLT_STREAM_INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BOLT_STREAM_INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BOLT_STREAM_BAD_REQUEST',
  FST_ERR_VALIDATION: 'BOLT_STREAM_VALIDATION_FAILED'
}

const CHALLENGE = 'Bearer realm="bolt-stream"'

/** What a 429 asks the client to wait. */
const RETRY_AFTER_SECONDS = 5

export function errorBody (code: string, message: string, kind?: string): { error: { code: string, message: string, kind?: string } } {
  return { error: kind === undefined ? { code, message } : { code, message, kind } }
}

/** The kind of an error that carries one (services/errors.ts withKind). */
function kindOf (error: unknown): string | undefined {
  const kind = (error as { kind?: unknown }).kind
  return typeof kind === 'string' ? kind : undefined
}

export default fp(async function errorHandler (fastify) {
  fastify.setErrorHandler(function (error: FastifyError, request, reply) {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600
      ? error.statusCode
      : 500
    if (status >= 500) {
      request.log.error(error, 'request failed')
    } else {
      request.log.info({ err: error }, 'request rejected')
    }
    let code: string
    let message = error.message
    // Only our own errors may carry a kind (Bolt's, for discovery); never an internal one.
    const ours = typeof error.code === 'string' && error.code.startsWith('BOLT_STREAM_')
    if (error.validation !== undefined) {
      code = 'BOLT_STREAM_VALIDATION_FAILED'
    } else if (ours) {
      code = error.code
    } else if (typeof error.code === 'string' && FRAMEWORK_CODES[error.code] !== undefined) {
      code = FRAMEWORK_CODES[error.code]
    } else if (status === 404) {
      code = 'BOLT_STREAM_NOT_FOUND'
    } else if (status < 500) {
      code = 'BOLT_STREAM_BAD_REQUEST'
    } else {
      code = status === 503 ? 'BOLT_STREAM_UNAVAILABLE' : 'BOLT_STREAM_INTERNAL_ERROR'
      message = status === 503 ? 'Service unavailable' : 'Internal server error'
    }
    if (error.code === 'BOLT_STREAM_SHUTTING_DOWN') message = error.message
    if (reply.sent || reply.raw.headersSent) return
    // RFC 6750 challenges: what kind of credential is wanted, and what was wrong with the one given.
    if (status === 401) {
      const invalid = code === 'BOLT_STREAM_INVALID_TOKEN' || code === 'BOLT_STREAM_INVALID_TICKET'
      void reply.header('www-authenticate', invalid ? `${CHALLENGE}, error="invalid_token"` : CHALLENGE)
    } else if (code === 'BOLT_STREAM_FORBIDDEN') {
      const scope = (error as { requiredScope?: string }).requiredScope
      void reply.header('www-authenticate', `${CHALLENGE}, error="insufficient_scope"${scope !== undefined ? `, scope="${scope}"` : ''}`)
    }
    // Queue full: a client should come back after a while, not hammer the service.
    if (status === 429 && !reply.hasHeader('retry-after')) void reply.header('retry-after', String(RETRY_AFTER_SECONDS))
    void reply.code(status).type('application/json').send(errorBody(code, message, ours ? kindOf(error) : undefined))
  })

  fastify.setNotFoundHandler(function (request, reply) {
    void reply.code(404).send(errorBody('BOLT_STREAM_ROUTE_NOT_FOUND', `Route ${request.method} ${request.url.split('?')[0]} not found`))
  })
}, { name: 'error-handler', fastify: '5.x' })
