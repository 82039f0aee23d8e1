import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import fp from 'fastify-plugin'
import { ServiceMetrics } from '../../services/metrics/service-metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Prometheus metrics; null with METRICS_ENABLED=false. */
    metrics: ServiceMetrics | null
  }
}

// Registered before the services it observes (they take its observers when built); the values it
// reads at scrape time come from the decorations those services leave.
export default fp(async function metrics (fastify) {
  const { config } = fastify
  if (!config.metricsEnabled) {
    fastify.decorate('metrics', null)
    return
  }
  const service = new ServiceMetrics(() => ({
    running: () => fastify.executions.runningCount,
    queued: () => fastify.executions.queuedCount,
    subscribers: () => fastify.sseConnections.size,
    streams: () => fastify.streaming.counts,
    spawnFailures: () => fastify.executions.spawnFailures,
    discovery: () => fastify.discovery.counts
  }))
  fastify.decorate('metrics', service)

  fastify.addHook('onResponse', async (request, reply) => {
    // The pattern, never the raw URL: an unknown path must not make a series of its own.
    service.request(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000)
  })

  if (config.metricsPort === 0) return
  // Its own listener, for a scraper that reaches a port the API's callers do not: no tokens.
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: the metrics are at GET /metrics\n')
      return
    }
    service.exposition().then(
      (text) => res.writeHead(200, { 'content-type': service.contentType }).end(text),
      (err: unknown) => {
        fastify.log.error({ err }, 'metrics could not be collected')
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n')
      })
  })
  fastify.addHook('onReady', async () => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(config.metricsPort, config.host, () => {
        server.off('error', reject)
        fastify.log.info({ port: (server.address() as AddressInfo).port }, 'metrics listening')
        resolve()
      })
    })
  })
  fastify.addHook('onClose', async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
}, { name: 'metrics', fastify: '5.x', dependencies: ['config'] })
