import fp from 'fastify-plugin'
import { Ajv, type Options } from 'ajv'
import addFormats from 'ajv-formats'

// Request bodies are validated as sent: no type coercion and no silent removal of unknown
// fields (`{"command": 42}` and `{"extra": 1}` are 400s). Params and querystrings arrive as
// text, so there numbers and booleans are converted.

const common: Options = { useDefaults: true, removeAdditional: false, allErrors: false, strict: false }
// ajv-formats ships CommonJS; its default export is the plugin function itself.
const withFormats = addFormats as unknown as (ajv: Ajv) => Ajv

export default fp(async function validation (fastify) {
  const bodyAjv = withFormats(new Ajv({ ...common, coerceTypes: false }))
  const textAjv = withFormats(new Ajv({ ...common, coerceTypes: 'array' }))
  fastify.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : textAjv).compile(schema))
}, { name: 'validation', fastify: '5.x' })
