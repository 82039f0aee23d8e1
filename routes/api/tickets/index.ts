import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ExecutionIdParams, StreamTicket, errorResponses } from '../../../schemas/index.js'
import { clientKey } from '../../../services/auth/client-key.js'
import { MAX_TICKETS_PER_HOLDER } from '../../../services/auth/stream-tickets.js'
import { TooManyTicketsError } from '../../../services/errors.js'

const tickets: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/executions/:id/stream-ticket', {
    config: { scope: 'read', emptyBody: true },
    schema: {
      summary: 'A single-use ticket to open this execution\'s stream without headers (EventSource)',
      params: ExecutionIdParams,
      response: { 201: StreamTicket, ...errorResponses }
    }
  }, async (request, reply) => {
    const record = await fastify.executions.record(request.params.id)
    const principal = request.principal!
    const issued = await fastify.streamTickets.issue(
      { executionId: record.id, name: principal.name, scopes: [...principal.scopes] }, clientKey(request.ip, principal))
    if (issued === null) throw new TooManyTicketsError(MAX_TICKETS_PER_HOLDER)
    // A credential: never cached by the browser or a proxy.
    return reply.code(201).header('cache-control', 'no-store').send({
      ...issued,
      streamUrl: `/api/executions/${record.id}/stream?ticket=${issued.ticket}`
    })
  })
}

export default tickets
