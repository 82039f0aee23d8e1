import fp from 'fastify-plugin'
import { sharedSchemas } from '../../schemas/index.js'

// The API contract's shared schemas, registered once; routes reference them by `$id`.
export default fp(async function schemas (fastify) {
  for (const schema of sharedSchemas) fastify.addSchema(schema)
}, { name: 'schemas', fastify: '5.x' })
