import type { Static } from '@sinclair/typebox'
import type {
  EventsPage as EventsPageSchema, EventsQuery as EventsQuerySchema, ExecutionListQuery, OutputQuery as OutputQuerySchema,
  RefreshQuery, RerunBody, TargetsQuery
} from '../schemas/index.js'

// Request and answer types the schemas declare without a named type; all of them come from the schemas.

export type EventsPage = Static<typeof EventsPageSchema>
/** `after` (0) and `limit` (100) have defaults on the server. */
export type EventsQuery = Partial<Static<typeof EventsQuerySchema>>
/** Filters of `GET /api/executions`; `limit` defaults to 20 on the server. */
export type ListQuery = Partial<ExecutionListQuery>
export type OutputQuery = Static<typeof OutputQuerySchema>
export type DiscoveryOptions = RefreshQuery
export type TargetsOptions = TargetsQuery
/** `targets` as the route takes it; `only` is the same, by the name the viewer uses. */
export type RerunOptions = RerunBody & { only?: RerunBody['targets'] }
