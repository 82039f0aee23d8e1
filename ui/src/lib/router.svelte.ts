// The pages are real URLs (shareable links): the service answers each with the same page, and
// this module shows the one the location names, following links without reloading.
export const route = $state({ path: location.pathname, query: new URLSearchParams(location.search) })

function sync (): void {
  route.path = location.pathname
  route.query = new URLSearchParams(location.search)
}

export function navigate (href: string, options: { replace?: boolean } = {}): void {
  if (options.replace === true) history.replaceState(null, '', href)
  else history.pushState(null, '', href)
  sync()
  if (options.replace !== true) window.scrollTo(0, 0)
}

/** Same-origin links go through navigate(); modified clicks (new tab, download) keep the browser's way. */
export function installLinkHandler (): void {
  window.addEventListener('popstate', sync)
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
    const anchor = (event.target as Element | null)?.closest?.('a')
    if (anchor === null || anchor === undefined || anchor.target !== '' || anchor.hasAttribute('download')) return
    const url = new URL(anchor.href, location.href)
    if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return
    event.preventDefault()
    navigate(url.pathname + url.search)
  })
}

/** The path's parameter after `prefix` (decoded), or undefined. */
export function pathParam (path: string, prefix: string): string | undefined {
  if (!path.startsWith(prefix) || path.length === prefix.length) return undefined
  const rest = path.slice(prefix.length)
  if (rest.includes('/')) return undefined
  try {
    return decodeURIComponent(rest)
  } catch {
    return undefined
  }
}
