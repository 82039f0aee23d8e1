import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import viewerHelmet from '../../plugins/external/helmet.js'
import viewerStatic from '../../plugins/external/static.js'
import { errorBody } from '../../plugins/app/error-handler.js'

/** The viewer's pages: each answers the same index.html, whose script shows the page the URL names. */
export const PAGE_ROUTES = ['/', '/run', '/executions', '/executions/:id', '/targets', '/targets/:name']

/** Pages are HTML for people, not part of the API: left out of the OpenAPI document. */
const PAGE = { schema: { hide: true } }

// The browser viewer (ui/, built into VIEWER_DIR). An encapsulated plugin: its security headers and
// static files stay on its own routes, and anything it does not name (an unknown /api/… path
// included) goes on to the app's JSON 404.
const viewer: FastifyPluginAsync = async (fastify) => {
  const root = fastify.config.viewerDir
  await fastify.register(viewerHelmet)
  if (!existsSync(join(root, 'index.html'))) {
    fastify.log.warn({ viewerDir: root }, 'the viewer is not built (run `npm run build`): its pages answer 503')
    for (const url of PAGE_ROUTES) fastify.get(url, PAGE, async (_request, reply) => notBuilt(reply))
    return
  }
  await fastify.register(viewerStatic, { root })
  for (const url of PAGE_ROUTES) {
    fastify.get(url, PAGE, async (_request, reply) => {
      // Always revalidated: it names the current build's hashed assets.
      return reply.header('cache-control', 'no-cache').sendFile('index.html', root, { cacheControl: false })
    })
  }
}

function notBuilt (reply: FastifyReply): FastifyReply {
  return reply.code(503).send(errorBody('BOLT_STREAM_VIEWER_NOT_BUILT',
    'The viewer is not built: run `npm run build` (or `npm start`, which builds it), then restart the service'))
}

export default viewer
