import { LatencyHistogram, type HistogramData } from './histogram.js'
import { LAYERS, layerIndex, type Layer } from './layer-clock.js'

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
  /** Per layer its requests called: the calls and the time inside them (the rest is the app's own). */
  layers?: LayerSnapshot[]
  /** The statement shapes its requests ran `nPlusOneThreshold` times or more, with how many requests did. */
  nPlusOne?: NPlusOneSnapshot[]
}

export interface LayerSnapshot {
  layer: Layer
  calls: number
  timeS: number
}

export interface NPlusOneSnapshot {
  layer: Layer
  statement: string
  requests: number
}

/** Statement shapes flagged as N+1 kept per endpoint per interval; more are counted under the first ones' endpoint no further. */
const MAX_N_PLUS_ONE_SHAPES = 10

export interface IntervalSnapshot {
  startMs: number
  endMs: number
  endpoints: EndpointSnapshot[]
}

export class EndpointStats {
  count = 0
  errors = 0
  aborted = 0
  readonly histogram = new LatencyHistogram()
  /** Per layer (`LAYERS` order), from the first request that called one. */
  layerCalls: number[] | undefined = undefined
  layerTimeS: number[] | undefined = undefined
  /** Requests per flagged shape, keyed `layer` tab `statement`. */
  nPlusOne: Map<string, number> | undefined = undefined
  constructor(readonly method: string, readonly route: string, readonly routed: boolean) {}

  addLayer(layer: number, calls: number, timeS: number): void {
    const allCalls = (this.layerCalls ??= new Array<number>(LAYERS.length).fill(0))
    const allTime = (this.layerTimeS ??= new Array<number>(LAYERS.length).fill(0))
    allCalls[layer]! += calls
    allTime[layer]! += timeS
  }

  /** Counts requests that ran a shape too often; bounded per endpoint. */
  flagNPlusOne(key: string, requests = 1): void {
    const flagged = (this.nPlusOne ??= new Map())
    const known = flagged.get(key)
    if (known !== undefined) flagged.set(key, known + requests)
    else if (flagged.size < MAX_N_PLUS_ONE_SHAPES) flagged.set(key, requests)
  }

  toSnapshot(): EndpointSnapshot {
    const snapshot: EndpointSnapshot = { method: this.method, route: this.route, count: this.count, errors: this.errors, aborted: this.aborted, histogram: this.histogram.toJSON() }
    if (!this.routed) snapshot.unrouted = true
    if (this.layerCalls !== undefined) {
      snapshot.layers = []
      for (let i = 0; i < LAYERS.length; i++) if (this.layerCalls[i]! > 0) snapshot.layers.push({ layer: LAYERS[i]!, calls: this.layerCalls[i]!, timeS: this.layerTimeS![i]! })
    }
    if (this.nPlusOne !== undefined) {
      snapshot.nPlusOne = []
      for (const [key, requests] of this.nPlusOne) {
        const tab = key.indexOf('\t')
        snapshot.nPlusOne.push({ layer: key.slice(0, tab) as Layer, statement: key.slice(tab + 1), requests })
      }
    }
    return snapshot
  }
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
  record(method: string, route: string, durationS: number, isError: boolean, aborted: boolean, routed = true): EndpointStats {
    const stats = this.statsFor(method, route, routed)
    stats.count++
    if (isError) stats.errors++
    if (aborted) stats.aborted++
    stats.histogram.record(durationS)
    return stats
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
      for (const l of e.layers ?? []) {
        const index = layerIndex[l.layer]
        if (index !== undefined) stats.addLayer(index, l.calls, l.timeS)
      }
      for (const n of e.nPlusOne ?? []) stats.flagNPlusOne(`${n.layer}\t${n.statement}`, n.requests)
    }
  }

  get endpointCount(): number {
    return this.size
  }

  /** The data so far, as a copy; nothing is reset. */
  snapshot(now = Date.now()): IntervalSnapshot {
    const endpoints: EndpointSnapshot[] = []
    for (const routes of this.byMethod.values()) {
      for (const s of routes.values()) endpoints.push(s.toSnapshot())
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
