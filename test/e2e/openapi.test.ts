import { compileErrors, validate } from '@readme/openapi-parser'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { build } from '../helper.js'

/** Fastify's `/a/:id` as OpenAPI's `/a/{id}`. */
const openapiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')

t.test('the OpenAPI 3.1 document is valid and describes every route with its answers', async (t) => {
  const ctx = await build(t, { listen: true })
  const res = await fetch(`${ctx.url}/docs/json`)
  t.equal(res.status, 200)
  const doc = await res.json() as any
  t.equal(doc.openapi, '3.1.0')

  // A validating parser (structure, $refs, schemas) must accept it as it is served.
  const result = await validate(structuredClone(doc))
  t.ok(result.valid, result.valid ? 'valid' : compileErrors(result))

  const yaml = await fetch(`${ctx.url}/docs/yaml`)
  t.equal(yaml.status, 200)
  t.same(parseYaml(await yaml.text()), doc, 'the YAML is the same document')
  const ui = await fetch(`${ctx.url}/docs`, { redirect: 'follow' })
  t.equal(ui.status, 200)
  t.match(await ui.text(), /swagger-ui/i, 'the UI is served')

  // Every route the app serves (HEAD twins of GETs aside), with every answer its schema declares.
  const served = ctx.routes().filter((r) => !r.hidden && !r.url.startsWith('/docs') && (r.method !== 'HEAD' || r.documentedHead))
  t.ok(served.length >= 25, `${served.length} routes`)
  for (const route of served) {
    const operation = doc.paths[openapiPath(route.url)]?.[route.method.toLowerCase()]
    if (operation === undefined) {
      t.fail(`${route.method} ${route.url} is not in the document`)
      continue
    }
    t.ok(route.responses.length > 0, `${route.method} ${route.url} declares its answers`)
    t.same(Object.keys(operation.responses).sort(), [...route.responses].sort(), `${route.method} ${route.url}: answers ${route.responses.join(' ')}`)
    // /api/info is public: the viewer reads it before any token is entered.
    const needsToken = (route.url.startsWith('/api') && route.url !== '/api/info') || route.url === '/metrics'
    t.equal(operation.security !== undefined, needsToken, `${route.method} ${route.url}: ${needsToken ? 'needs a token' : 'public'}`)
  }
  const documented = Object.values(doc.paths).reduce((n: number, ops: any) => n + Object.keys(ops).length, 0)
  t.equal(documented, served.length, 'and nothing else')
})

t.test('the stream is text/event-stream with every event\'s payload schema', async (t) => {
  const ctx = await build(t)
  const doc = (await ctx.app.inject('/docs/json')).json()
  const stream = doc.paths['/api/executions/{id}/stream']
  const ok = stream.get.responses['200']
  t.same(Object.keys(ok.content), ['text/event-stream'], 'the stream answers text/event-stream')
  const refs = JSON.stringify(ok.content['text/event-stream'].schema)
  t.match(refs, '#/components/schemas/StartEvent')
  t.match(refs, '#/components/schemas/LoggedEvent')
  const logged = JSON.stringify(doc.components.schemas.LoggedEvent)
  for (const type of ['Status', 'Command', 'Stdout', 'Stderr', 'Complete', 'Error']) {
    t.match(logged, `#/components/schemas/${type}Event`, `the ${type.toLowerCase()} event`)
    const schema = doc.components.schemas[`${type}Event`]
    const typed = schema.properties.type
    t.ok(typed.const === type.toLowerCase() || (typed.enum?.length === 1 && typed.enum[0] === type.toLowerCase()), `${type}Event is typed by its name`)
    t.ok(schema.properties.data.properties !== undefined, `${type}Event's data has its schema`)
  }
  t.ok(stream.head, 'HEAD on the stream is described too')
  t.same(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: doc.components.securitySchemes.bearer.description })
})
