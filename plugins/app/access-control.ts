import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { hasCredentialParam } from '../../services/auth/url-redaction.js'
import { principalOf, type Principal, type Scope } from '../../services/auth/tokens.js'
import { InvalidTicketError, InvalidTokenError, TokenInUrlError, UnauthorizedError } from '../../services/errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs; every /api route must say (checked at start-up). 'public': none. */
    scope?: Scope | 'public'
    /** The route also admits a stream ticket (`?ticket=`) instead of the header. */
    ticket?: boolean
  }
}

const TICKET_REFUSALS = {
  expired: 'The stream ticket has expired; ask for a new one',
  'other-execution': 'The stream ticket was issued for another execution (it is now used up)',
  unknown: 'The stream ticket is not valid (unknown, or already used)'
} as const

// Every /api route gets the check as its own onRequest hook, after those added before it (the
// rate limiter's: failed attempts count against the caller too). Fail closed: an /api route
// that does not say which scope it needs stops start-up.

export default fp(async function accessControl (fastify) {
  const { auth, streamTickets } = fastify

  const fromTicket = async (request: FastifyRequest, ticket: unknown): Promise<Principal> => {
    if (typeof ticket !== 'string') throw new InvalidTicketError('Give one ticket')
    const id = (request.params as { id?: string }).id ?? ''
    // A HEAD opens no stream, so it leaves the ticket for the GET.
    const redeemed = request.method === 'HEAD' ? await streamTickets.check(ticket, id) : await streamTickets.redeem(ticket, id)
    if (!redeemed.ok) throw new InvalidTicketError(TICKET_REFUSALS[redeemed.reason])
    return principalOf(redeemed.grant.name, redeemed.grant.scopes)
  }

  const fromToken = (request: FastifyRequest): Principal => {
    const result = auth.authenticateOnce(request, request.headers.authorization)
    if (result.ok) return result.principal
    if (result.reason === 'missing') throw new UnauthorizedError()
    throw new InvalidTokenError(result.reason === 'malformed'
      ? 'The Authorization header must be "Bearer <token>"'
      : 'The token is not valid')
  }

  const check = async (request: FastifyRequest): Promise<void> => {
    const { scope, ticket: ticketAllowed } = request.routeOptions.config
    if (scope === undefined || scope === 'public') return
    const query = request.query as Record<string, unknown>
    if (hasCredentialParam(query)) throw new TokenInUrlError()
    const useTicket = ticketAllowed === true && request.headers.authorization === undefined && query.ticket !== undefined
    request.principal = useTicket ? await fromTicket(request, query.ticket) : fromToken(request)
    request.requireScope(scope, 'this request')
  }

  fastify.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    // Outside /api, only routes that declare a scope are checked (/metrics).
    if ((!route.url.startsWith('/api') && route.config?.scope === undefined) || methods.every((m) => m === 'OPTIONS')) return
    if (route.config?.scope === undefined) throw new Error(`route ${methods.join(',')} ${route.url} does not declare its scope`)
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
    route.onRequest = [...own, check]
  })
}, { name: 'access-control', fastify: '5.x', dependencies: ['auth'] })
