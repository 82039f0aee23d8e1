import type { FastifyInstance, FastifyReply, FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import accessControl from './plugins/app/access-control.js'
import auth from './plugins/app/auth.js'
import bolt from './plugins/app/bolt.js'
import configPlugin from './plugins/app/config.js'
import discovery from './plugins/app/discovery.js'
import errorHandler, { clientErrorHandler, errorBody } from './plugins/app/error-handler.js'
import executions from './plugins/app/executions.js'
import metrics from './plugins/app/metrics.js'
import outputBuffering from './plugins/app/output-buffering.js'
import requestIdHeader from './plugins/app/request-id.js'
import schemas from './plugins/app/schemas.js'
import store from './plugins/app/store.js'
import streaming from './plugins/app/streaming.js'
import validation from './plugins/app/validation.js'
import cors from './plugins/external/cors.js'
import openapi from './plugins/external/openapi.js'
import rateLimit from './plugins/external/rate-limit.js'
import sse from './plugins/external/sse.js'
import loadShedding from './plugins/external/under-pressure.js'
import commandsRoute from './routes/api/commands/index.js'
import executionsRoutes from './routes/api/executions/index.js'
import executionLogsRoutes from './routes/api/executions/logs.js'
import groupsRoutes from './routes/api/groups/index.js'
import rerunRoute from './routes/api/executions/rerun.js'
import packagesRoute from './routes/api/packages/index.js'
import planDiscoveryRoutes from './routes/api/plans/discovery.js'
import plansRoute from './routes/api/plans/index.js'
import puppetRunsRoute from './routes/api/puppet-runs/index.js'
import streamRoutes from './routes/api/stream/index.js'
import targetsRoutes from './routes/api/targets/index.js'
import taskDiscoveryRoutes from './routes/api/tasks/discovery.js'
import tasksRoute from './routes/api/tasks/index.js'
import ticketsRoute from './routes/api/tickets/index.js'
import healthRoutes from './routes/health/index.js'
import infoRoute from './routes/api/info/index.js'
import viewerRoutes from './routes/viewer/index.js'
import metricsRoute from './routes/metrics/index.js'
import { redactUrl } from './services/auth/url-redaction.js'
import { executionIdOf, requestId } from './services/http/request-id.js'
import type { Config } from './services/config/load-config.js'

export interface AppOptions {
  config: Config
}

/** Server options the app expects; server.ts and the tests (test/helper.ts, build) both use them. */
export function serverOptions (config: Config): FastifyServerOptions {
  return {
    logger: {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie'],
      serializers: {
        // Fastify's request fields, with stream tickets (and any credential sent in the URL) blanked.
        req (request) {
          return { method: request.method, url: redactUrl(request.url), host: request.host, remoteAddress: request.ip, remotePort: request.socket?.remotePort }
        }
      }
    },
    bodyLimit: 64 * 1024,
    // X-Request-Id: kept when valid, else made (services/http/request-id.ts); sent back by plugins/app/request-id.ts.
    requestIdHeader: false,
    genReqId: requestId,
    // Every line of a request about an execution carries its executionId, "incoming request" included.
    childLoggerFactory (logger, bindings, options, rawReq) {
      const executionId = executionIdOf(rawReq.url)
      return logger.child(executionId === undefined ? bindings : { ...bindings, executionId }, options)
    },
    // Which proxies' X-Forwarded-For decides request.ip (the client of the stream limits).
    trustProxy: config.trustProxy,
    // Streams stay open for minutes: closing must not wait for idle keep-alive sockets.
    forceCloseConnections: 'idle',
    // Requests Node's HTTP parser refuses (a malformed header or request line, a bad
    // Content-Length or chunk, headers over 16 KiB) answer in the API's shape too.
    clientErrorHandler,
    // The router's own errors (an overlong or badly encoded path) answer in the API's shape too,
    // without echoing the path back.
    frameworkErrors (error, request, reply) {
      request.log.info({ err: error }, 'request rejected by the router')
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      void (reply as FastifyReply).code(tooLong ? 414 : 400).type('application/json').send(errorBody(
        tooLong ? 'BOLT_STREAM_URI_TOO_LONG' : 'BOLT_STREAM_BAD_URL',
        tooLong ? 'A path parameter is too long' : 'The URL is not valid'))
    }
  }
}

async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  // The app's foundations.
  await fastify.register(configPlugin, { config: opts.config })
  await fastify.register(schemas)
  await fastify.register(validation)
  await fastify.register(errorHandler)
  await fastify.register(auth)
  // Operations: request ids, metrics (before the services they observe).
  await fastify.register(requestIdHeader)
  await fastify.register(metrics)

  // Third-party plugins.
  await fastify.register(cors)
  await fastify.register(rateLimit)
  await fastify.register(sse)
  await fastify.register(openapi)
  await fastify.register(loadShedding)

  // The app's own plugins.
  await fastify.register(accessControl)
  await fastify.register(store)
  await fastify.register(streaming)
  await fastify.register(outputBuffering)
  await fastify.register(bolt)
  await fastify.register(executions)
  await fastify.register(discovery)

  await fastify.register(healthRoutes)
  await fastify.register(metricsRoute)
  await fastify.register(async (api) => {
    await api.register(commandsRoute)
    await api.register(tasksRoute)
    await api.register(plansRoute)
    await api.register(puppetRunsRoute)
    await api.register(packagesRoute)
    await api.register(executionsRoutes)
    await api.register(executionLogsRoutes)
    await api.register(rerunRoute)
    await api.register(ticketsRoute)
    await api.register(streamRoutes)
    await api.register(taskDiscoveryRoutes)
    await api.register(planDiscoveryRoutes)
    await api.register(targetsRoutes)
    await api.register(groupsRoutes)
    await api.register(infoRoute)
  }, { prefix: '/api' })
  await fastify.register(viewerRoutes)
}

export default fp(app, { name: 'bolt-stream', fastify: '5.x' })
