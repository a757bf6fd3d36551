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
  jobs?: JobSnapshot[]
  queues?: QueueDepth[]
}

/** What the requests (or jobs) of one name did inside: calls and time per layer, N+1 shapes. */
export class CallStats {
  /** Per layer (`LAYERS` order), from the first request that called one. */
  layerCalls: number[] | undefined = undefined
  layerTimeS: number[] | undefined = undefined
  /** Requests per flagged shape, keyed `layer` tab `statement`. */
  nPlusOne: Map<string, number> | undefined = undefined

  addLayer(layer: number, calls: number, timeS: number): void {
    const allCalls = (this.layerCalls ??= new Array<number>(LAYERS.length).fill(0))
    const allTime = (this.layerTimeS ??= new Array<number>(LAYERS.length).fill(0))
    allCalls[layer]! += calls
    allTime[layer]! += timeS
  }

  /** Counts requests that ran a shape too often; bounded per name. */
  flagNPlusOne(key: string, requests = 1): void {
    const flagged = (this.nPlusOne ??= new Map())
    const known = flagged.get(key)
    if (known !== undefined) flagged.set(key, known + requests)
    else if (flagged.size < MAX_N_PLUS_ONE_SHAPES) flagged.set(key, requests)
  }

  /** Adds another interval's, exactly. */
  mergeInside(other: Pick<EndpointSnapshot, 'layers' | 'nPlusOne'>): void {
    for (const l of other.layers ?? []) {
      const index = layerIndex[l.layer]
      if (index !== undefined) this.addLayer(index, l.calls, l.timeS)
    }
    for (const n of other.nPlusOne ?? []) this.flagNPlusOne(`${n.layer}\t${n.statement}`, n.requests)
  }

  protected insideSnapshot(snapshot: Pick<EndpointSnapshot, 'layers' | 'nPlusOne'>): void {
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
  }
}

export class EndpointStats extends CallStats {
  count = 0
  errors = 0
  aborted = 0
  readonly histogram = new LatencyHistogram()
  constructor(readonly method: string, readonly route: string, readonly routed: boolean) {
    super()
  }

  /** No data, its buckets kept: the next interval's merges need not build them again. */
  clear(): void {
    this.count = 0
    this.errors = 0
    this.aborted = 0
    this.histogram.clear()
    this.layerCalls = undefined
    this.layerTimeS = undefined
    this.nPlusOne = undefined
  }

  /** `copy`: false when these stats are dropped next (a drain), so the snapshot may keep their buckets. */
  toSnapshot(copy = true): EndpointSnapshot {
    const snapshot: EndpointSnapshot = { method: this.method, route: this.route, count: this.count, errors: this.errors, aborted: this.aborted, histogram: this.histogram.data(copy) }
    if (!this.routed) snapshot.unrouted = true
    this.insideSnapshot(snapshot)
    return snapshot
  }
}

/** How a job ended: done, failed for good, failed with attempts left, or lost by its worker (BullMQ's "stalled"). */
export type JobOutcome = 'completed' | 'failed' | 'retried' | 'stalled'

/** One job name's interval: durations per outcome, time waited in the queue, and what it did inside. */
export interface JobSnapshot {
  /** `bullmq`, or none for the app's own job loop (`recordJob`). */
  system?: string
  queue?: string
  name: string
  outcomes: { outcome: JobOutcome; histogram: HistogramData }[]
  wait?: HistogramData
  layers?: LayerSnapshot[]
  nPlusOne?: NPlusOneSnapshot[]
}

export class JobStats extends CallStats {
  readonly outcomes = new Map<JobOutcome, LatencyHistogram>()
  wait: LatencyHistogram | undefined = undefined
  constructor(readonly system: string | undefined, readonly queue: string | undefined, readonly name: string) {
    super()
  }

  waitHistogram(): LatencyHistogram {
    return (this.wait ??= new LatencyHistogram())
  }

  outcome(outcome: JobOutcome): LatencyHistogram {
    let histogram = this.outcomes.get(outcome)
    if (histogram === undefined) this.outcomes.set(outcome, (histogram = new LatencyHistogram()))
    return histogram
  }

  toSnapshot(copy = true): JobSnapshot {
    const snapshot: JobSnapshot = { name: this.name, outcomes: [...this.outcomes].map(([outcome, h]) => ({ outcome, histogram: h.data(copy) })) }
    if (this.system !== undefined) snapshot.system = this.system
    if (this.queue !== undefined) snapshot.queue = this.queue
    if (this.wait !== undefined) snapshot.wait = this.wait.data(copy)
    this.insideSnapshot(snapshot)
    return snapshot
  }
}

/** Queue lengths by state, as a job worker last read them. */
export interface QueueDepth {
  queue: string
  waiting: number
  active: number
  delayed: number
  failed: number
}

/** The stats of `method` among a route's (a route has one to a few methods: a scan beats a second map look-up). */
function ofMethod(stats: EndpointStats[] | undefined, method: string): EndpointStats | undefined {
  if (stats !== undefined) for (let i = 0; i < stats.length; i++) if (stats[i]!.method === method) return stats[i]
  return undefined
}

/**
 * Per-interval aggregation per endpoint, in place: a request costs one map
 * look-up and a histogram increment. The number of endpoints is capped; the
 * rest share one overflow bucket per method so memory stays bounded.
 */
export class Aggregator {
  /** Per route, its stats per method. */
  private byRoute = new Map<string, EndpointStats[]>()
  /** Endpoints in all, and those that count against `maxEndpoints` (the routed ones). */
  private size = 0
  private routedSize = 0
  private jobs = new Map<string, JobStats>()
  private queues = new Map<string, QueueDepth>()

  /** Endpoints kept apart; set again when the configuration is read again. */
  constructor(public maxEndpoints: number, private startMs = Date.now()) {}

  /**
   * `routed`: named by a route. Names the agent made for requests no route
   * answered are bounded by their maker and never take a routed endpoint's slot.
   */
  record(method: string, route: string, durationS: number, isError: boolean, aborted: boolean, routed = true): EndpointStats {
    const stats = this.endpoint(method, route, routed)
    stats.count++
    if (isError) stats.errors++
    if (aborted) stats.aborted++
    stats.histogram.record(durationS)
    return stats
  }

  /** An endpoint's stats, made where new (past the cap, its method's overflow). */
  endpoint(method: string, route: string, routed: boolean): EndpointStats {
    let methods = this.byRoute.get(route)
    let stats = ofMethod(methods, method)
    if (stats === undefined) {
      if (routed && this.routedSize >= this.maxEndpoints) {
        route = OVERFLOW_ROUTE
        methods = this.byRoute.get(route)
        stats = ofMethod(methods, method)
      }
      if (stats === undefined) {
        stats = new EndpointStats(method, route, routed)
        if (methods !== undefined) methods.push(stats)
        else this.byRoute.set(route, [stats])
        this.size++
        if (routed) this.routedSize++
      }
    }
    return stats
  }

  /** Adds another interval's data, e.g. a worker's, exactly. */
  merge(snapshot: IntervalSnapshot): void {
    this.coverFrom(snapshot.startMs)
    for (const e of snapshot.endpoints) {
      const stats = this.endpoint(e.method, e.route, e.unrouted !== true)
      stats.count += e.count
      stats.errors += e.errors
      stats.aborted += e.aborted
      stats.histogram.merge(e.histogram)
      stats.mergeInside(e)
    }
    for (const j of snapshot.jobs ?? []) {
      const stats = this.job(j.system, j.queue, j.name)
      for (const o of j.outcomes) stats.outcome(o.outcome).merge(o.histogram)
      if (j.wait !== undefined) stats.waitHistogram().merge(j.wait)
      stats.mergeInside(j)
    }
    for (const q of snapshot.queues ?? []) this.queues.set(q.queue, q)
  }

  /** Data from as early as `startMs` is in this interval. */
  coverFrom(startMs: number): void {
    if (startMs < this.startMs) this.startMs = startMs
  }

  /** A job's end: its duration under its outcome, and its wait in the queue where known. */
  recordJob(system: string | undefined, queue: string | undefined, name: string, outcome: JobOutcome, durationS: number, waitS: number | undefined): JobStats {
    const stats = this.job(system, queue, name)
    stats.outcome(outcome).record(durationS)
    if (waitS !== undefined) stats.waitHistogram().record(waitS)
    return stats
  }

  /** A job name's stats, made where new (past the cap, its queue's overflow name). */
  job(system: string | undefined, queue: string | undefined, name: string): JobStats {
    const key = `${queue ?? ''}\t${name}`
    let stats = this.jobs.get(key)
    if (stats === undefined) {
      // Job names share the endpoints' cap; past it, one overflow name per queue.
      if (this.jobs.size >= this.maxEndpoints && name !== OVERFLOW_ROUTE) return this.job(system, queue, OVERFLOW_ROUTE)
      this.jobs.set(key, (stats = new JobStats(system, queue, name)))
    }
    return stats
  }

  /** The latest lengths of a queue this process serves. */
  setQueueDepth(depth: QueueDepth): void {
    this.queues.set(depth.queue, depth)
  }

  /** Endpoints and job names with data. */
  get namesWithData(): number {
    return this.size + this.jobs.size
  }

  /** The data so far, as a copy; nothing is reset. */
  snapshot(now = Date.now(), copy = true): IntervalSnapshot {
    const endpoints: EndpointSnapshot[] = []
    for (const methods of this.byRoute.values()) {
      // An endpoint kept by `drainKeeping` with nothing yet this interval is not in it.
      for (const s of methods) if (s.count > 0) endpoints.push(s.toSnapshot(copy))
    }
    const snapshot: IntervalSnapshot = { startMs: this.startMs, endMs: now, endpoints }
    if (this.jobs.size > 0) snapshot.jobs = [...this.jobs.values()].map((j) => j.toSnapshot(copy))
    if (this.queues.size > 0) snapshot.queues = [...this.queues.values()]
    return snapshot
  }

  /**
   * Like `drain`, for an aggregator that merges what others measured (a
   * primary's, per worker): an endpoint with data in this interval keeps its
   * stats, emptied, for the next one, so its merges do not build its buckets
   * again each interval; one without is dropped. It keeps its slot under
   * `maxEndpoints` one interval longer than with `drain`.
   */
  drainKeeping(now = Date.now()): IntervalSnapshot {
    const snapshot = this.snapshot(now, true)
    this.size = 0
    this.routedSize = 0
    for (const [route, methods] of this.byRoute) {
      const kept = methods.filter((stats) => stats.count > 0)
      for (const stats of kept) {
        stats.clear()
        this.size++
        if (stats.routed) this.routedSize++
      }
      if (kept.length === 0) this.byRoute.delete(route)
      else this.byRoute.set(route, kept)
    }
    this.jobs = new Map()
    this.queues = new Map()
    this.startMs = now
    return snapshot
  }

  /** Returns this interval's data and starts the next one empty. */
  drain(now = Date.now()): IntervalSnapshot {
    // The stats go with this interval: their buckets need no copy.
    const snapshot = this.snapshot(now, false)
    this.byRoute = new Map()
    this.jobs = new Map()
    this.queues = new Map()
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
