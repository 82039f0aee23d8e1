/** Query parameters that would carry a credential in the URL, which is never accepted. */
export const CREDENTIAL_PARAMS = ['access_token', 'token', 'bearer', 'authorization', 'api_key', 'apikey']
/** Query parameters whose values never reach the logs. */
const SECRET_PARAMS = new Set(['ticket', ...CREDENTIAL_PARAMS])

/** The URL with the values of ticket and credential parameters replaced, for logs. */
export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const query = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq)
    let decoded = name
    try { decoded = decodeURIComponent(name.replace(/\+/g, ' ')) } catch { /* logged as it came */ }
    return SECRET_PARAMS.has(decoded.toLowerCase()) ? `${name}=[REDACTED]` : pair
  })
  return `${url.slice(0, q)}?${query.join('&')}`
}

/** Whether a query names a credential parameter. */
export function hasCredentialParam (query: object): boolean {
  return Object.keys(query).some((name) => CREDENTIAL_PARAMS.includes(name.toLowerCase()))
}
