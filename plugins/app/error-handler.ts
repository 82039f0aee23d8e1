import { maxHeaderSize, STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import fp from 'fastify-plugin'
import type { ConnectionError, FastifyError, FastifyInstance } from 'fastify'

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

/** Node's HTTP parser errors (llhttp `HPE_*` codes), by what they say about the request. */
const PARSER_MESSAGES: Array<[RegExp, string]> = [
  [/^HPE_(INVALID_METHOD|INVALID_URL|INVALID_CONSTANT|INVALID_VERSION)$/, 'The request line is malformed'],
  [/^HPE_INVALID_HEADER_TOKEN$/, 'A request header is malformed'],
  [/^HPE_(INVALID_CONTENT_LENGTH|UNEXPECTED_CONTENT_LENGTH)$/, 'The Content-Length header is not valid'],
  [/^HPE_INVALID_TRANSFER_ENCODING$/, 'The Transfer-Encoding header is not valid (or comes with Content-Length)'],
  [/^HPE_INVALID_CHUNK_SIZE$/, 'The chunked request body is malformed']
]

/** The answer to a request Node's HTTP parser refused: status, code and message. */
function clientErrorAnswer (code: string): [number, string, string] {
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'BOLT_STREAM_HEADERS_TOO_LARGE', `The request headers exceed ${maxHeaderSize} bytes`]
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'BOLT_STREAM_REQUEST_TIMEOUT', 'The request was not received in time']
  const message = PARSER_MESSAGES.find(([pattern]) => pattern.test(code))?.[1] ?? 'The request is not valid HTTP'
  return [400, 'BOLT_STREAM_MALFORMED_REQUEST', message]
}

/**
 * Fastify's `clientErrorHandler` server option (app.ts, serverOptions): requests that Node's HTTP
 * parser refuses never reach Fastify's error handler, so they are answered here, in the API's
 * shape, and the connection is closed (the parser cannot go on after such an error).
 */
export function clientErrorHandler (this: FastifyInstance, error: ConnectionError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, code, message] = clientErrorAnswer(error.code)
  // The error's rawPacket holds the request's bytes (an Authorization header too): never logged.
  this.log.info({ parserError: error.code, status }, 'request rejected by the HTTP parser')
  // As Node does: answer only if no response has started on this connection.
  const current = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (socket.writable && current?.headersSent !== true) {
    const body = JSON.stringify(errorBody(code, message))
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy(error)
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
