import { LatencyHistogram, type HistogramData } from './histogram.js'

export const OVERFLOW_ROUTE = '__overflow__'

export interface EndpointSnapshot {
  method: string
  route: string
  count: number
  errors: number
  aborted: number
  histogram: HistogramData
  /** Named by the agent, not by a route (see RequestRecorder): outside the endpoint cap. */
  unrouted?: true
}

export interface IntervalSnapshot {
  startMs: number
  endMs: number
  endpoints: EndpointSnapshot[]
}

class EndpointStats {
  count = 0
  errors = 0
  aborted = 0
  readonly histogram = new LatencyHistogram()
  constructor(readonly method: string, readonly route: string, readonly routed: boolean) {}
}

/**
 * Per-interval aggregation per endpoint, in place: a request costs two map
 * look-ups and a histogram increment. The number of endpoints is capped; the
 * rest share one overflow bucket per method so memory stays bounded.
 */
export class Aggregator {
  private byMethod = new Map<string, Map<string, EndpointStats>>()
  /** Endpoints in all, and those that count against `maxEndpoints` (the routed ones). */
  private size = 0
  private routedSize = 0
  private startMs = Date.now()

  /** Endpoints kept apart; set again when the configuration is read again. */
  constructor(public maxEndpoints: number) {}

  /**
   * `routed`: named by a route. Names the agent made for requests no route
   * answered are bounded by their maker and never take a routed endpoint's slot.
   */
  record(method: string, route: string, durationS: number, isError: boolean, aborted: boolean, routed = true): void {
    const stats = this.statsFor(method, route, routed)
    stats.count++
    if (isError) stats.errors++
    if (aborted) stats.aborted++
    stats.histogram.record(durationS)
  }

  private statsFor(method: string, route: string, routed: boolean): EndpointStats {
    let routes = this.byMethod.get(method)
    if (routes === undefined) {
      routes = new Map()
      this.byMethod.set(method, routes)
    }
    let stats = routes.get(route)
    if (stats === undefined) {
      if (routed && this.routedSize >= this.maxEndpoints) {
        route = OVERFLOW_ROUTE
        stats = routes.get(route)
      }
      if (stats === undefined) {
        stats = new EndpointStats(method, route, routed)
        routes.set(route, stats)
        this.size++
        if (routed) this.routedSize++
      }
    }
    return stats
  }

  /** Adds another interval's data, e.g. a worker's, exactly. */
  merge(snapshot: IntervalSnapshot): void {
    if (snapshot.startMs < this.startMs) this.startMs = snapshot.startMs
    for (const e of snapshot.endpoints) {
      const stats = this.statsFor(e.method, e.route, e.unrouted !== true)
      stats.count += e.count
      stats.errors += e.errors
      stats.aborted += e.aborted
      stats.histogram.merge(e.histogram)
    }
  }

  get endpointCount(): number {
    return this.size
  }

  /** The data so far, as a copy; nothing is reset. */
  snapshot(now = Date.now()): IntervalSnapshot {
    const endpoints: EndpointSnapshot[] = []
    for (const routes of this.byMethod.values()) {
      for (const s of routes.values()) {
        endpoints.push({ method: s.method, route: s.route, count: s.count, errors: s.errors, aborted: s.aborted, histogram: s.histogram.toJSON(), ...(s.routed ? {} : { unrouted: true as const }) })
      }
    }
    return { startMs: this.startMs, endMs: now, endpoints }
  }

  /** Returns this interval's data and starts the next one empty. */
  drain(now = Date.now()): IntervalSnapshot {
    const snapshot = this.snapshot(now)
    this.byMethod = new Map()
    this.size = 0
    this.routedSize = 0
    this.startMs = now
    return snapshot
  }
}

/** The requests an interval counts: the sum of its endpoints' counts, never kept beside them. */
export function requestsIn(snapshot: IntervalSnapshot): number {
  let requests = 0
  for (const e of snapshot.endpoints) requests += e.count
  return requests
}
