import fastifyCors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import { fastifySSE } from '@fastify/sse'
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import authPlugin, { authenticateRequest, clientKey, redactUrl } from './plugins/app/auth.js'
import boltPlugin from './plugins/app/bolt.js'
import configPlugin from './plugins/app/config.js'
import errorHandler, { errorBody } from './plugins/app/error-handler.js'
import executionsPlugin from './plugins/app/executions.js'
import outputBuffering from './plugins/app/output-buffering.js'
import storePlugin from './plugins/app/store.js'
import streamingPlugin from './plugins/app/streaming.js'
import validation from './plugins/app/validation.js'
import commands from './routes/api/commands/index.js'
import executions from './routes/api/executions/index.js'
import health from './routes/health/index.js'
import packages from './routes/api/packages/index.js'
import puppetRuns from './routes/api/puppet-runs/index.js'
import stream from './routes/api/stream/index.js'
import tasks from './routes/api/tasks/index.js'
import type { Config } from './services/config/load-config.js'

export interface AppOptions {
  config: Config
}

/** Server options the app expects; server.ts and the tests both use them. */
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
    // Which proxies' X-Forwarded-For decides request.ip (the client of the stream limits).
    trustProxy: config.trustProxy,
    // Streams stay open for minutes: closing must not wait for idle keep-alive sockets.
    forceCloseConnections: 'idle',
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
  await fastify.register(configPlugin, { config: opts.config })
  await fastify.register(validation)
  await fastify.register(errorHandler)
  // The API speaks JSON only: a text/plain body is a 415, not a string that fails validation.
  fastify.removeContentTypeParser('text/plain')
  if (opts.config.corsOrigins.length > 0) {
    await fastify.register(fastifyCors, {
      origin: opts.config.corsOrigins.includes('*') ? '*' : opts.config.corsOrigins,
      exposedHeaders: ['Location'],
      allowedHeaders: ['Content-Type', 'Last-Event-ID', 'Authorization']
    })
  }
  // POSTs start and cancel executions: each client gets so many per window. Reads and streams
  // have their own bounds (MAX_STREAMS_PER_CLIENT).
  const uncounted = (request: FastifyRequest): boolean => request.method !== 'POST'
  await fastify.register(rateLimit, {
    max: opts.config.rateLimitMax,
    // Per token when one is given (a valid one), else per address; runs before authentication,
    // so failed attempts count against the address.
    keyGenerator: (request) => {
      if (uncounted(request)) return ''
      const result = authenticateRequest(fastify.auth, request)
      return clientKey(request, result.ok ? result.principal : null)
    },
    timeWindow: opts.config.rateLimitWindowMs,
    allowList: uncounted,
    errorResponseBuilder: (_request, context) => Object.assign(
      new Error(`Too many requests: at most ${context.max} per ${Math.round(opts.config.rateLimitWindowMs / 1000)} s; retry in ${context.after}`),
      { statusCode: 429, code: 'BOLT_STREAM_RATE_LIMITED' })
  })
  await fastify.register(authPlugin)
  await fastify.register(fastifySSE)
  await fastify.register(storePlugin)
  await fastify.register(streamingPlugin)
  await fastify.register(outputBuffering)
  await fastify.register(boltPlugin)
  await fastify.register(executionsPlugin)

  await fastify.register(health)
  await fastify.register(async (api) => {
    await api.register(commands)
    await api.register(tasks)
    await api.register(puppetRuns)
    await api.register(packages)
    await api.register(executions)
    await api.register(stream)
  }, { prefix: '/api' })
}

export default fp(app, { name: 'bolt-stream', fastify: '5.x' })
