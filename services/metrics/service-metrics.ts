import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { ExecutionRecord, ExecutionStatus } from '../../schemas/index.js'
import type { ExecutionObserver } from '../executions/execution-service.js'
import type { StreamCounts } from '../streaming/stream-manager.js'

// The service's Prometheus metrics (prom-client), one registry per instance. What happens once per
// execution or per request is observed as it happens; what happens per event (streamed frames and
// bytes) is counted by the services in plain numbers and read when scraped, so streaming pays
// nothing for it.

/** Where the scrape-time values come from; each read when /metrics is asked. */
export interface MetricSources {
  running: () => number
  queued: () => number
  subscribers: () => number
  streams: () => StreamCounts
  spawnFailures: () => number
  discovery: () => { requests: number, runs: number, failedRuns: number }
}

const PREFIX = 'bolt_stream_'

/** Executions take from a second (an `uptime`) to many minutes (a Puppet run on a big catalogue). */
const DURATION_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]
/** One SQLite transaction of a turn's events: well under a millisecond to tens of them. */
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** A counter whose value a service keeps; set from it at each scrape. */
function mirroredCounter (registry: Registry, name: string, help: string, read: () => number): void {
  // eslint-disable-next-line no-new -- registered with the registry, which keeps it
  new Counter({
    name: PREFIX + name,
    help,
    registers: [registry],
    collect () {
      this.reset()
      this.inc(read())
    }
  })
}

function gauge (registry: Registry, name: string, help: string, read: () => number): void {
  // eslint-disable-next-line no-new -- registered with the registry, which keeps it
  new Gauge({ name: PREFIX + name, help, registers: [registry], collect () { this.set(read()) } })
}

export class ServiceMetrics {
  readonly registry = new Registry()
  private readonly started: Counter<'type'>
  private readonly finished: Counter<'type' | 'status'>
  private readonly duration: Histogram<'type'>
  private readonly storeAppend: Histogram
  private readonly http: Histogram<'method' | 'route' | 'status_code'>

  constructor (sources: () => MetricSources) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    this.started = new Counter({ name: `${PREFIX}executions_started_total`, help: 'Executions accepted (running or queued), by type', labelNames: ['type'], registers })
    this.finished = new Counter({ name: `${PREFIX}executions_finished_total`, help: 'Executions ended, by type and final status', labelNames: ['type', 'status'], registers })
    this.duration = new Histogram({ name: `${PREFIX}execution_duration_seconds`, help: 'From acceptance to the final status, by type', labelNames: ['type'], buckets: DURATION_BUCKETS, registers })
    this.storeAppend = new Histogram({ name: `${PREFIX}store_append_duration_seconds`, help: 'Time to store one batch of events (all appended in one turn of the event loop)', buckets: STORE_BUCKETS, registers })
    this.http = new Histogram({ name: `${PREFIX}http_request_duration_seconds`, help: "HTTP requests by method, route pattern and status (a stream's lasts until it closes)", labelNames: ['method', 'route', 'status_code'], buckets: HTTP_BUCKETS, registers })

    const r = this.registry
    gauge(r, 'executions_running', 'Executions running now', () => sources().running())
    gauge(r, 'executions_queued', 'Executions waiting for a slot now', () => sources().queued())
    gauge(r, 'sse_subscribers', 'Open event streams now', () => sources().subscribers())
    mirroredCounter(r, 'events_streamed_total', 'Event frames written to streams, live and replayed', () => sources().streams().events)
    mirroredCounter(r, 'streamed_bytes_total', 'Bytes of those event frames', () => sources().streams().bytes)
    mirroredCounter(r, 'slow_consumers_fed_from_store_total', 'Times a stream fell behind the live output and was fed from the store', () => sources().streams().fedFromStore)
    mirroredCounter(r, 'slow_consumers_dropped_total', 'Streams dropped for taking no bytes for STREAM_STALL_TIMEOUT_MS', () => sources().streams().dropped)
    mirroredCounter(r, 'bolt_spawn_failures_total', 'Executions whose Bolt process could not be started', () => sources().spawnFailures())
    mirroredCounter(r, 'discovery_runs_total', 'Bolt runs of the discovery endpoints', () => sources().discovery().runs)
    mirroredCounter(r, 'discovery_failed_runs_total', 'Those that failed (an error from Bolt, a timeout, a crash)', () => sources().discovery().failedRuns)
    mirroredCounter(r, 'discovery_cache_hits_total', 'Discovery requests answered without a Bolt run of their own (a kept answer, or a run already under way)',
      () => { const d = sources().discovery(); return d.requests - d.runs })
  }

  /** For the execution service. */
  readonly executions: ExecutionObserver = {
    accepted: (type: ExecutionRecord['type']) => this.started.inc({ type }),
    ended: (type: ExecutionRecord['type'], status: ExecutionStatus, seconds: number) => {
      this.finished.inc({ type, status })
      this.duration.observe({ type }, seconds)
    }
  }

  /** For the stream manager. */
  readonly stored = (seconds: number): void => this.storeAppend.observe(seconds)

  /** `route` is the route's pattern (`/api/executions/:id`), never a raw URL. */
  request (method: string, route: string, statusCode: number, seconds: number): void {
    this.http.observe({ method, route, status_code: String(statusCode) }, seconds)
  }

  get contentType (): string {
    return this.registry.contentType
  }

  exposition (): Promise<string> {
    return this.registry.metrics()
  }
}
