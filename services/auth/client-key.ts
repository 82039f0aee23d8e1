import type { Principal } from './tokens.js'

/** The identity that per-client limits count against: the token's name, or the address. */
export function clientKey (ip: string, principal: Principal | null): string {
  return principal?.name != null ? `token:${principal.name}` : `address:${ip}`
}
