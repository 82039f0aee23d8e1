import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Info } from '../../../schemas/index.js'
import { packageInfo } from '../../../services/config/package-root.js'

// `GET /api/info`: public, so a page can tell whether to ask for a token before it calls anything else.
const info: FastifyPluginAsyncTypebox = async (fastify) => {
  const { name, version } = packageInfo()
  fastify.get('/info', {
    config: { scope: 'public' },
    schema: { summary: 'About this service', response: { 200: Info } }
  }, async () => ({
    service: name,
    version,
    demoMode: fastify.config.demoMode,
    authRequired: !fastify.auth.open
  }))
}

export default info
