import type {
  Accepted, CommandBody, ExecutionList, ExecutionRecord, Group, InventoryTarget, ItemSummary, LoggedEvent, PackageBody,
  PlanBody, PlanDetail, PuppetRunBody, StreamTicket, TaskBody, TaskDetail
} from '../schemas/index.js'
import { errorFromResponse, networkError } from './errors.js'
import { follow, type FollowOptions } from './follow.js'
import type { DiscoveryOptions, EventsPage, EventsQuery, ListQuery, OutputQuery, RerunOptions, TargetsOptions } from './types.js'

export interface ClientOptions {
  /** The service's URL, like `http://localhost:3000`; `''` (default) is the page's own origin in a browser. */
  baseUrl?: string
  /** An API token, sent as `Authorization: Bearer …`; none in open mode. */
  token?: string
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch
}

type Query = Record<string, string | number | boolean | undefined>

interface RequestOptions {
  query?: Query
  /** JSON body; `undefined` sends none. */
  body?: unknown
  accept?: string
}

/** A typed client of the bolt-stream HTTP API, for browsers and Node 20. */
export class BoltStreamClient {
  readonly baseUrl: string
  readonly token?: string
  readonly #fetch: typeof fetch

  constructor (options: ClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '')
    this.token = options.token
    const f = options.fetch ?? globalThis.fetch
    if (typeof f !== 'function') throw new TypeError('No fetch: pass options.fetch')
    // A bare global fetch must not be called as a method of this object.
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  }

  // Starting executions: 202 Accepted.

  runCommand (body: CommandBody): Promise<Accepted> { return this.#json('POST', '/api/commands', { body }) }
  runTask (body: TaskBody): Promise<Accepted> { return this.#json('POST', '/api/tasks', { body }) }
  runPlan (body: PlanBody): Promise<Accepted> { return this.#json('POST', '/api/plans', { body }) }
  runPuppet (body: PuppetRunBody): Promise<Accepted> { return this.#json('POST', '/api/puppet-runs', { body }) }
  installPackage (body: PackageBody): Promise<Accepted> { return this.#json('POST', '/api/packages', { body }) }

  // Executions.

  getExecution (id: string): Promise<ExecutionRecord> { return this.#json('GET', execPath(id)) }

  listExecutions (query: ListQuery = {}): Promise<ExecutionList> {
    return this.#json('GET', '/api/executions', { query: query as Query })
  }

  cancel (id: string): Promise<Accepted> { return this.#json('POST', `${execPath(id)}/cancel`) }

  async deleteExecution (id: string): Promise<void> { await this.#send('DELETE', execPath(id)) }

  rerun (id: string, options: RerunOptions = {}): Promise<Accepted> {
    const targets = options.targets ?? options.only
    return this.#json('POST', `${execPath(id)}/rerun`, { body: targets === undefined ? {} : { targets } })
  }

  /** The captured output as text (needs the `expert` scope). */
  async output (id: string, query: OutputQuery = {}): Promise<string> {
    const res = await this.#send('GET', `${execPath(id)}/output`, { query: query as Query, accept: 'text/plain' })
    return res.text()
  }

  events (id: string, query: EventsQuery = {}): Promise<EventsPage> {
    return this.#json('GET', `${execPath(id)}/events`, { query: query as Query })
  }

  streamTicket (id: string): Promise<StreamTicket> { return this.#json('POST', `${execPath(id)}/stream-ticket`) }

  /**
   * The execution's events as they happen, from the start (or after `lastEventId`) to the terminal
   * event, resuming after any cut. See FollowOptions.
   */
  follow (id: string, options: FollowOptions = {}): AsyncIterable<LoggedEvent> {
    return follow(this, id, options)
  }

  // Discovery.

  tasks (options: DiscoveryOptions = {}): Promise<ItemSummary[]> { return this.#json('GET', '/api/tasks', { query: options }) }
  task (name: string, options: DiscoveryOptions = {}): Promise<TaskDetail> {
    return this.#json('GET', `/api/tasks/${encodeURIComponent(name)}`, { query: options })
  }

  plans (options: DiscoveryOptions = {}): Promise<ItemSummary[]> { return this.#json('GET', '/api/plans', { query: options }) }
  plan (name: string, options: DiscoveryOptions = {}): Promise<PlanDetail> {
    return this.#json('GET', `/api/plans/${encodeURIComponent(name)}`, { query: options })
  }

  targets (options: TargetsOptions = {}): Promise<InventoryTarget[]> { return this.#json('GET', '/api/targets', { query: options }) }
  groups (options: DiscoveryOptions = {}): Promise<Group[]> { return this.#json('GET', '/api/groups', { query: options }) }

  // Plumbing, also used by follow().

  /** The absolute (or, with baseUrl '', origin-relative) URL of a path and query. */
  url (path: string, query: Query = {}): string {
    const params = new URLSearchParams()
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value))
    const search = params.toString()
    return `${this.baseUrl}${path}${search.length > 0 ? `?${search}` : ''}`
  }

  /** Headers of every request: the token, when there is one. */
  headers (extra: Record<string, string> = {}): Record<string, string> {
    return this.token === undefined ? extra : { authorization: `Bearer ${this.token}`, ...extra }
  }

  /** `fetch`, with a failure to connect as a BoltStreamError. */
  async fetch (url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.#fetch(url, init)
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err
      throw networkError(err, url)
    }
  }

  async #send (method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: options.accept ?? 'application/json' }
    // Routes without a body refuse one: send none, and no content type.
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    const res = await this.fetch(this.url(path, options.query), {
      method,
      headers: this.headers(headers),
      body: options.body === undefined ? undefined : JSON.stringify(options.body)
    })
    if (!res.ok) throw await errorFromResponse(res)
    return res
  }

  async #json<T> (method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.#send(method, path, options)
    return await res.json() as T
  }
}

function execPath (id: string): string {
  return `/api/executions/${encodeURIComponent(id)}`
}
