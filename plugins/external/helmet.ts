import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'

/**
 * The viewer's Content-Security-Policy: its own scripts, styles and API only. No inline script or
 * style attribute is needed (the viewer sets styles through the CSSOM), so none is allowed, and a
 * target's output that slipped into markup could run nothing.
 */
export const VIEWER_CSP = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'"],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"]
}

// Security headers for the viewer's pages. Registered inside the viewer's own (encapsulated)
// plugin, so the API's answers keep their headers as they were.
export default fp(async function viewerHelmet (fastify) {
  await fastify.register(helmet, {
    // useDefaults: false so that upgrade-insecure-requests stays out: TLS is the proxy's business,
    // and over plain HTTP it would send the page's own requests to an https:// nobody answers.
    contentSecurityPolicy: { useDefaults: false, directives: VIEWER_CSP },
    referrerPolicy: { policy: 'no-referrer' }
  })
}, { name: 'viewer-helmet', fastify: '5.x' })
