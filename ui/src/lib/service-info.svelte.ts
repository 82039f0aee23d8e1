import type { Info } from '../../../schemas/info.js'

// GET /api/info (public): the demo banner and whether the token field matters.
export const serviceInfo = $state<{ value: Info | null, error: string | null }>({ value: null, error: null })

export async function loadServiceInfo (): Promise<void> {
  try {
    const response = await fetch('/api/info', { headers: { accept: 'application/json' } })
    if (!response.ok) throw new Error(`GET /api/info answered ${response.status}`)
    serviceInfo.value = await response.json() as Info
  } catch (err) {
    serviceInfo.error = (err as Error).message
  }
}
