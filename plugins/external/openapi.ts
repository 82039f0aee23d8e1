import { existsSync, readFileSync } from 'node:fs'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'

// From the source tree (tsx) or from dist/ (compiled): the nearest package.json above.
const manifest = ['../../package.json', '../../../package.json'].map((p) => new URL(p, import.meta.url)).find((u) => existsSync(u))
const { version } = manifest === undefined ? { version: '0.0.0' } : JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }

// The OpenAPI 3.1 document is generated from the routes' schemas (schemas/, the one contract) at
// /docs/json and /docs/yaml, with Swagger UI at /docs. Shared schemas keep their `$id` as their
// component name; a route that needs a scope is marked as needing the bearer token.
export default fp(async function openapi (fastify) {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'bolt-stream',
        version,
        description: 'Runs Puppet Bolt operations and streams their output live over Server-Sent Events.'
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API token (AUTH_TOKENS); scopes read, execute, expert' }
        }
      }
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}`
    },
    transform ({ schema, url, route }) {
      const scope = route.config?.scope
      if (scope === undefined || scope === 'public') return { schema, url }
      const security = route.config?.ticket === true ? [{ bearer: [] }, {}] : [{ bearer: [] }]
      return { schema: { ...schema, security } as typeof schema, url }
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'openapi', fastify: '5.x' })
