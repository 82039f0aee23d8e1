// The API token the reader pasted: kept in sessionStorage (this tab, until it closes), never in a URL.
const KEY = 'bolt-stream.token'

function stored (): string {
  try {
    return sessionStorage.getItem(KEY) ?? ''
  } catch {
    return ''
  }
}

export const token = $state({ value: stored() })

export function setToken (value: string): void {
  token.value = value.trim()
  try {
    if (token.value === '') sessionStorage.removeItem(KEY)
    else sessionStorage.setItem(KEY, token.value)
  } catch { /* storage refused (private mode): the token lives for this page only */ }
}
