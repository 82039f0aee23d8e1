import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'
import { errorBody } from '../app/error-handler.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Under load this route answers 503 with Retry-After: new executions and readiness. */
    shedsLoad?: boolean
  }
}

/** What a shed request is asked to wait, in seconds. */
export const SHED_RETRY_AFTER_S = 5

const REASONS: Record<string, string> = {
  eventLoopDelay: 'the event loop is delayed',
  heapUsedBytes: 'the heap is over its limit',
  rssBytes: 'the resident memory is over its limit'
}

// Load shedding: above the SHED_* thresholds only what adds work is refused (new executions), and
// readiness fails so the pod leaves the Service until it recovers. Everything else goes on: open
// streams are never cut, reads and cancels are served, and liveness never fails for load (a
// restart would lose the running executions and bring no relief).
export default fp(async function loadShedding (fastify) {
  const { config } = fastify
  await fastify.register(underPressure, {
    maxEventLoopDelay: config.shedMaxEventLoopDelayMs,
    maxHeapUsedBytes: config.shedMaxHeapUsedBytes,
    maxRssBytes: config.shedMaxRssBytes,
    sampleInterval: config.shedSampleIntervalMs,
    retryAfter: SHED_RETRY_AFTER_S,
    exposeStatusRoute: false,
    // The plugin only measures: which requests are shed is decided below, per route.
    pressureHandler: () => undefined
  })

  // Read from the plugin's samples rather than isUnderPressure(): a sample interval in which the
  // loop recorded no delay at all (right after start-up) reads as an infinite delay there, and
  // would shed requests of an idle service.
  const overloaded = (): string | null => {
    const { eventLoopDelay, heapUsed, rssBytes } = fastify.memoryUsage()
    if (config.shedMaxEventLoopDelayMs > 0 && Number.isFinite(eventLoopDelay) && eventLoopDelay > config.shedMaxEventLoopDelayMs) return REASONS.eventLoopDelay
    if (config.shedMaxHeapUsedBytes > 0 && heapUsed > config.shedMaxHeapUsedBytes) return REASONS.heapUsedBytes
    if (config.shedMaxRssBytes > 0 && rssBytes > config.shedMaxRssBytes) return REASONS.rssBytes
    return null
  }

  fastify.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.shedsLoad !== true) return
    const reason = overloaded()
    if (reason === null) return
    request.log.warn({ reason }, 'request shed under load')
    void reply.code(503).header('retry-after', SHED_RETRY_AFTER_S)
    if (request.routeOptions.url === '/health/ready') return reply.send({ status: 'overloaded', reason: `The service is overloaded: ${reason}` })
    return reply.send(errorBody('BOLT_STREAM_OVERLOADED', `The service is overloaded (${reason}); retry in ${SHED_RETRY_AFTER_S} s`))
  })
}, { name: 'load-shedding', fastify: '5.x', dependencies: ['config'] })
