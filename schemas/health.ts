import { Type, type Static } from '@sinclair/typebox'

export const Health = Type.Object({
  status: Type.String({ description: 'ok, ready, not_ready or draining' }),
  boltVersion: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String({ description: 'Why the service is not ready' }))
})
export type Health = Static<typeof Health>
