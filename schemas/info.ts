import { Type, type Static } from '@sinclair/typebox'

/** `GET /api/info`: what a client (the viewer) needs to know before it has a token. */
export const Info = Type.Object({
  service: Type.String({ description: 'The service name, bolt-stream' }),
  version: Type.String({ description: 'The service version' }),
  demoMode: Type.Boolean({ description: 'DEMO_MODE: commands run on this machine through a Bolt stand-in' }),
  authRequired: Type.Boolean({ description: 'API tokens are configured: every other /api route needs one' })
}, { description: 'About this service' })
export type Info = Static<typeof Info>
