import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { Ajv, type Options } from 'ajv'
import addFormats from 'ajv-formats'
import { InvalidInputError, PrototypeKeyError } from '../../services/errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route is a POST without a body schema (JSON Schema cannot allow an absent body, which
     * is what `curl -X POST` sends): it takes none, `null` or `{}`, and anything else is a 400.
     */
    emptyBody?: boolean
  }
}

// Request bodies are validated as sent: no type coercion and no silent removal of unknown
// fields (`{"command": 42}` and `{"extra": 1}` are 400s). Params and querystrings arrive as
// text, so there numbers and booleans are converted.

const common: Options = { useDefaults: true, removeAdditional: false, allErrors: false, strict: false }
// ajv-formats ships CommonJS; its default export is the plugin function itself.
const withFormats = addFormats as unknown as (ajv: Ajv) => Ajv

function refuseBody (request: FastifyRequest): void {
  const body = request.body
  if (body !== undefined && body !== null &&
      (typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length > 0)) {
    throw new InvalidInputError(`${request.routeOptions.url ?? 'this route'} takes no body (or an empty object)`)
  }
}

function isJson (text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

export default fp(async function validation (fastify) {
  const bodyAjv = withFormats(new Ajv({ ...common, coerceTypes: false }))
  const textAjv = withFormats(new Ajv({ ...common, coerceTypes: 'array' }))
  fastify.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : textAjv).compile(schema))
  // The API speaks JSON only: a text/plain body is a 415, not a string that fails validation.
  fastify.removeContentTypeParser('text/plain')
  // Fastify's JSON parser refuses `__proto__` (and `constructor.prototype`) keys as "not valid
  // JSON"; such a body is valid JSON, so it is told what is refused instead.
  const strictJson = fastify.getDefaultJsonParser('error', 'error')
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser<string>('application/json', { parseAs: 'string' }, (request, body, done) => {
    void strictJson(request, body, (err, value) => {
      if (err !== null && (err as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY' && isJson(body)) done(new PrototypeKeyError(), undefined)
      else done(err, value)
    })
  })
  fastify.addHook('onRoute', (route) => {
    if (route.config?.emptyBody !== true) return
    const own = route.preValidation === undefined ? [] : Array.isArray(route.preValidation) ? route.preValidation : [route.preValidation]
    route.preValidation = [...own, async (request: FastifyRequest) => refuseBody(request)]
  })
}, { name: 'validation', fastify: '5.x' })
