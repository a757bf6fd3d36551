import type { EndpointSnapshot, IntervalSnapshot, JobSnapshot } from './aggregator.js'
import type { HistogramData } from './histogram.js'
import type { ErrorGroup } from './error-service.js'
import type { DropCounts } from './exporter.js'
import { HISTOGRAM_SCALE } from './histogram.js'
import type { ProcessIdentity } from './process-identity.js'
import type { RuntimeSnapshot } from './runtime-metrics.js'
import type { TraceRecord } from './slow-traces.js'
import { newSpanId } from './trace-context.js'
import type { FrameworkInfo } from './framework-info.js'
import { performance } from 'node:perf_hooks'
import { AGENT_VERSION } from './version.js'
import { ByteWriter } from './byte-writer.js'
import type { OtlpProtocol } from './config.js'
import {
  EXPONENTIAL_ATTRIBUTE_TAG, LOGS_REQUEST, METRICS_REQUEST, NUMBER_ATTRIBUTE_TAG, ProtoPointParts, ProtoWriter, TRACES_REQUEST, nanosBigint, writeExponentialPoint, writeMessage, writeNumberPoint,
} from './otlp-protobuf.js'

/**
 * OTLP/HTTP JSON encoding (opentelemetry-proto 1.x): lowerCamelCase fields,
 * 64-bit integers as decimal strings, trace and span ids as hex, enums as
 * numbers. Metrics are delta temporality. Each payload is built once in this
 * JSON form; `http/protobuf` writes the same object as protobuf
 * (otlp-protobuf.ts). A metrics report's endpoint points, most of its bytes,
 * skip the objects: they are written as bytes in either form.
 */
type AnyValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean }
export interface KeyValue { key: string; value: AnyValue }

const DELTA = 1
const CUMULATIVE = 2
const SPAN_KIND_INTERNAL = 1
const SPAN_KIND_SERVER = 2
const SPAN_KIND_CLIENT = 3
const SPAN_KIND_CONSUMER = 5
const STATUS_ERROR = 2
const SEVERITY_ERROR = 17
const SEVERITY_INFO = 9

export function attr(key: string, value: string | number | boolean): KeyValue {
  if (typeof value === 'string') return { key, value: { stringValue: value } }
  if (typeof value === 'boolean') return { key, value: { boolValue: value } }
  return Number.isInteger(value) ? { key, value: { intValue: String(value) } } : { key, value: { doubleValue: value } }
}

const nanos = (ms: number) => (BigInt(Math.round(ms * 1000)) * 1000n).toString()

export interface ResourceInfo {
  serviceName: string
  identity: ProcessIdentity
  framework?: FrameworkInfo
  /** The app's own resource attributes (`resourceAttributes`, OTEL_RESOURCE_ATTRIBUTES). */
  extra?: Record<string, string>
}

export function resourceAttributes(info: ResourceInfo): KeyValue[] {
  const id = info.identity
  const attrs = [
    attr('service.name', info.serviceName),
    attr('service.instance.id', id.instanceId),
    attr('host.name', id.hostname),
    attr('process.pid', id.pid),
    attr('process.parent_pid', id.ppid),
    attr('process.runtime.name', 'nodejs'),
    attr('process.runtime.version', process.versions.node),
    attr('process.runtime.description', 'Node.js'),
    attr('telemetry.sdk.name', '@agent/core'),
    attr('telemetry.sdk.language', 'nodejs'),
    attr('telemetry.sdk.version', AGENT_VERSION),
    attr('agent.process.role', id.role),
  ]
  if (id.parentInstanceId) attrs.push(attr('agent.parent.instance.id', id.parentInstanceId))
  if (id.workerId !== undefined) attrs.push(attr('agent.worker.id', id.workerId))
  if (id.pm2) attrs.push(attr('agent.pm2', true))
  if (info.framework) attrs.push(attr('agent.framework.name', info.framework.name), attr('agent.framework.version', info.framework.version))
  if (info.framework?.platform) attrs.push(attr('agent.framework.platform.name', info.framework.platform.name), attr('agent.framework.platform.version', info.framework.platform.version))
  // The app's own attributes (deployment.environment, service.version, ...) beside the agent's, never replacing them.
  const own = new Set(attrs.map((a) => a.key))
  for (const [key, value] of Object.entries(info.extra ?? {})) if (!own.has(key)) attrs.push(attr(key, value))
  return attrs
}

const scope = { name: '@agent/core', version: AGENT_VERSION }

/** One of the agent's own counters: always delta. */
function sum(name: string, unit: string, start: string, end: string, points: { attributes: KeyValue[]; value: number }[]) {
  return {
    name, unit,
    sum: {
      aggregationTemporality: DELTA,
      isMonotonic: true,
      dataPoints: points.map((p) => ({ attributes: p.attributes, startTimeUnixNano: start, timeUnixNano: end, ...(Number.isInteger(p.value) ? { asInt: String(p.value) } : { asDouble: p.value }) })),
    },
  }
}

function gauge(name: string, unit: string, end: string, value: number, attributes: KeyValue[] = []) {
  return { name, unit, gauge: { dataPoints: [{ attributes, timeUnixNano: end, asDouble: value }] } }
}

/** A worker that died without handing over what it served since its last hand-over. */
export interface LostWorker {
  workerId: number
  pid: number
  /** From its last hand-over to its death: the requests of that time are lost. */
  seconds: number
}

export interface MetricsInput {
  resource: KeyValue[]
  interval: IntervalSnapshot
  runtime?: RuntimeSnapshot
  drops?: DropCounts
  /** Of the request metrics; `cumulative` intervals hold the totals since start. Delta by default. */
  temporality?: 'delta' | 'cumulative'
  /** Cluster workers that died without handing over, with the time they lost. */
  lost?: LostWorker[]
  /**
   * Extra per-process resources (a primary's breakdown of its workers), each
   * with its own interval and the last hand-over it holds (`handOverThrough`).
   */
  processes?: { resource: KeyValue[]; interval: IntervalSnapshot; runtime?: RuntimeSnapshot; handOverThrough?: number }[]
  /**
   * A worker whose primary died: what it had handed over and was never
   * acknowledged, each under its hand-over numbers, so a collector that
   * already stored them through the primary stores them once.
   */
  orphans?: { interval: IntervalSnapshot; from: number; through: number }[]
}

/** Resource attributes that number cluster hand-overs: how a collector stores each once. */
export const HAND_OVER_FROM = 'agent.handover.from'
export const HAND_OVER_THROUGH = 'agent.handover.through'

/** An exponential histogram data point of the agent's bucket scheme. */
function histogramPoint(h: HistogramData, attributes: KeyValue[], start: string, end: string) {
  return {
    attributes, startTimeUnixNano: start, timeUnixNano: end, count: String(h.count), sum: h.sum, scale: HISTOGRAM_SCALE, zeroCount: String(h.zeroCount),
    // Numbers, not decimal strings: the JSON mapping accepts both, and a string per bucket was most of the encoding time.
    positive: { offset: h.offset, bucketCounts: h.counts }, ...(h.count > 0 ? { min: h.min, max: h.max } : {}),
  }
}

/** The per-endpoint metrics: errors, aborted, duration, time and calls per layer, N+1 shapes (see `jsonPoints`). */
const ENDPOINT_METRICS = 6

/** A job's time and calls per layer and its N+1 shapes, as data points added to the three lists (an endpoint's are written as bytes: `jsonPoints`, `ProtoEndpointPoints`). */
function insidePoints(
  inside: Pick<EndpointSnapshot, 'layers' | 'nPlusOne'>, attributes: KeyValue[], start: string, end: string,
  layerTime: unknown[], layerCalls: unknown[], nPlusOne: unknown[],
): void {
  for (const l of inside.layers ?? []) {
    const layerAttributes = [...attributes, attr('agent.layer', l.layer)]
    layerTime.push({ attributes: layerAttributes, startTimeUnixNano: start, timeUnixNano: end, asDouble: l.timeS })
    layerCalls.push({ attributes: layerAttributes, startTimeUnixNano: start, timeUnixNano: end, asInt: String(l.calls) })
  }
  for (const n of inside.nPlusOne ?? []) {
    nPlusOne.push({ attributes: [...attributes, attr('agent.layer', n.layer), attr('db.query.text', n.statement)], startTimeUnixNano: start, timeUnixNano: end, asInt: String(n.requests) })
  }
}

/** The request metrics of an interval with the given data points (per metric, see `ENDPOINT_METRICS`); the layer and N+1 metrics only where some endpoint has them. */
function requestMetrics(interval: IntervalSnapshot, points: unknown[][], temporality: number) {
  const sumOf = (name: string, unit: string, dataPoints: unknown) => ({ name, unit, sum: { aggregationTemporality: temporality, isMonotonic: true, dataPoints } })
  // OpenTelemetry's conventions define the duration histogram (its count is the request count); errors and aborts are the agent's own.
  const metrics: unknown[] = [
    sumOf('agent.http.server.request.errors', '{request}', points[0]),
    sumOf('agent.http.server.request.aborted', '{request}', points[1]),
    { name: 'http.server.request.duration', unit: 's', exponentialHistogram: { aggregationTemporality: temporality, dataPoints: points[2] } },
  ]
  if (interval.endpoints.some((e) => e.layers !== undefined)) {
    metrics.push(sumOf('agent.layer.duration', 's', points[3]), sumOf('agent.layer.calls', '{call}', points[4]))
  }
  if (interval.endpoints.some((e) => e.nPlusOne !== undefined)) metrics.push(sumOf('agent.n_plus_one.requests', '{request}', points[5]))
  return metrics
}


/** The job metrics of an interval (few names: encoded at once, not in slices), and the queues' lengths. */
function jobMetrics(interval: IntervalSnapshot, temporality: number, start: string, end: string): unknown[] {
  const jobs = interval.jobs ?? []
  const metrics: unknown[] = []
  const durations: unknown[] = []
  const waits: unknown[] = []
  const layerTime: unknown[] = []
  const layerCalls: unknown[] = []
  const nPlusOne: unknown[] = []
  for (const j of jobs) {
    const attributes = jobAttributes(j)
    for (const o of j.outcomes) durations.push(histogramPoint(o.histogram, [...attributes, attr('agent.job.outcome', o.outcome)], start, end))
    if (j.wait !== undefined) waits.push(histogramPoint(j.wait, attributes, start, end))
    insidePoints(j, attributes, start, end, layerTime, layerCalls, nPlusOne)
  }
  const sumOf = (name: string, unit: string, dataPoints: unknown[]) => ({ name, unit, sum: { aggregationTemporality: temporality, isMonotonic: true, dataPoints } })
  if (durations.length > 0) metrics.push({ name: 'agent.job.duration', unit: 's', exponentialHistogram: { aggregationTemporality: temporality, dataPoints: durations } })
  if (waits.length > 0) metrics.push({ name: 'agent.job.wait', unit: 's', exponentialHistogram: { aggregationTemporality: temporality, dataPoints: waits } })
  if (layerTime.length > 0) metrics.push(sumOf('agent.layer.duration', 's', layerTime), sumOf('agent.layer.calls', '{call}', layerCalls))
  if (nPlusOne.length > 0) metrics.push(sumOf('agent.n_plus_one.requests', '{request}', nPlusOne))
  const depths = (interval.queues ?? []).flatMap((q) => (['waiting', 'active', 'delayed', 'failed'] as const).map((state) => ({
    attributes: [attr('messaging.destination.name', q.queue), attr('agent.queue.state', state)], timeUnixNano: end, asInt: String(q[state]),
  })))
  if (depths.length > 0) metrics.push({ name: 'agent.queue.jobs', unit: '{job}', gauge: { dataPoints: depths } })
  return metrics
}

function jobAttributes(j: Pick<JobSnapshot, 'system' | 'queue' | 'name'>): KeyValue[] {
  const attributes = [attr('agent.job.name', j.name)]
  if (j.queue !== undefined) attributes.push(attr('messaging.destination.name', j.queue))
  if (j.system !== undefined) attributes.push(attr('messaging.system', j.system))
  return attributes
}

function scopeMetrics(interval: IntervalSnapshot, runtime: RuntimeSnapshot | undefined, drops: DropCounts | undefined, temporality: number, points: (interval: IntervalSnapshot) => unknown[][]) {
  const start = nanos(interval.startMs)
  const end = nanos(interval.endMs)
  const metrics: unknown[] = []
  if (interval.endpoints.length > 0) metrics.push(...requestMetrics(interval, points(interval), temporality))
  if (interval.jobs !== undefined || interval.queues !== undefined) metrics.push(...jobMetrics(interval, temporality, start, end))
  if (runtime) {
    // Names and units of OpenTelemetry's conventions (durations in seconds); agent.* where they have none.
    const d = runtime.eventLoopDelayMs
    metrics.push(
      gauge('nodejs.eventloop.delay.min', 's', end, d.min / 1000),
      gauge('nodejs.eventloop.delay.mean', 's', end, d.mean / 1000),
      gauge('nodejs.eventloop.delay.p50', 's', end, d.p50 / 1000),
      gauge('nodejs.eventloop.delay.p99', 's', end, d.p99 / 1000),
      gauge('nodejs.eventloop.delay.max', 's', end, d.max / 1000),
      gauge('nodejs.eventloop.utilization', '1', end, runtime.eventLoopUtilization),
      gauge('v8js.memory.heap.used', 'By', end, runtime.heapUsedBytes),
      gauge('v8js.memory.heap.limit', 'By', end, runtime.heapLimitBytes),
      gauge('process.memory.usage', 'By', end, runtime.rssBytes),
      gauge('agent.memory.external', 'By', end, runtime.externalBytes),
      gauge('process.cpu.utilization', '1', end, runtime.cpuUtilization),
      sum('process.cpu.time', 's', start, end, [
        { attributes: [attr('cpu.mode', 'user')], value: runtime.cpuUserMs / 1000 },
        { attributes: [attr('cpu.mode', 'system')], value: runtime.cpuSystemMs / 1000 },
      ]),
      // The pauses of the interval as one histogram point: their count and total, no buckets.
      { name: 'v8js.gc.duration', unit: 's', histogram: { aggregationTemporality: DELTA, dataPoints: [{ attributes: [], startTimeUnixNano: start, timeUnixNano: end, count: String(runtime.gcCount), sum: runtime.gcPauseMs / 1000, bucketCounts: [String(runtime.gcCount)], explicitBounds: [] }] } },
    )
  }
  if (drops && (drops.payloads > 0 || drops.requests > 0)) {
    metrics.push(
      sum('agent.export.dropped.payloads', '{payload}', start, end, [{ attributes: [], value: drops.payloads }]),
      sum('agent.export.dropped.requests', '{request}', start, end, [{ attributes: [], value: drops.requests }]),
    )
  }
  return { scope, metrics }
}

/** Encodes at once, as JSON; see `MetricsEncoding` for the same in slices. */
export function encodeMetrics(input: MetricsInput): string {
  return metricsBody(input, 'http/json').toString('utf8')
}

/** Encodes at once, in `protocol`. */
export function metricsBody(input: MetricsInput, protocol: OtlpProtocol): Buffer {
  const encoding = new MetricsEncoding(input, protocol)
  encoding.step(Infinity)
  return encoding.result()
}

/** Where the data points of section `k`, metric `m` go in the skeleton. */
const marker = (k: number, m: number) => `@agent-points-${k}-${m}@`
const MARKERS = /\["@agent-points-(\d+)-(\d)@"\]/
const MARKER = /^@agent-points-(\d+)-(\d)@$/

/**
 * JSON: the body is written in order into one buffer, sized for it: the
 * skeleton's text up to a metric's points, then that metric's points endpoint
 * by endpoint, and so on. Each point is written whole (an endpoint's
 * attributes again in each: copying them from a first writing cost more),
 * mostly in short pieces the writer copies without a call into C++.
 */
class JsonMetricsBody {
  /** The skeleton's text cut at its markers: text, section, metric, text, ... */
  private readonly parts: string[]
  private readonly w: ByteWriter
  private part = 0
  /** The next endpoint of the points being written; -1 while the text before them is not written yet. */
  private endpoint = -1

  constructor(skeletonText: string, private readonly sections: { interval: IntervalSnapshot; times: Buffer }[]) {
    this.parts = skeletonText.split(MARKERS)
    let size = skeletonText.length
    for (const { interval } of sections) size += jsonPointsSize(interval)
    // A little over, so it neither grows nor is copied smaller at the end (ByteWriter.compact).
    this.w = new ByteWriter(Math.ceil(size * 1.1) + 1024)
  }

  step(budgetMs: number): boolean {
    const startedAt = performance.now()
    const { parts, w } = this
    while (this.part < parts.length) {
      if (this.endpoint < 0) {
        w.utf8(parts[this.part]!)
        if (this.part + 1 === parts.length) break
        w.byte(0x5b) // [
        this.endpoint = 0
      }
      const { interval, times } = this.sections[Number(parts[this.part + 1])]!
      const metric = Number(parts[this.part + 2])
      const endpoints = interval.endpoints
      while (this.endpoint < endpoints.length) {
        jsonPoints(w, metric, endpoints[this.endpoint++]!, times)
        if ((this.endpoint & 15) === 0 && performance.now() - startedAt > budgetMs && this.endpoint < endpoints.length) return false
      }
      w.byte(0x5d) // ]
      this.endpoint = -1
      this.part += 3
    }
    this.part = parts.length
    return true
  }

  result(): Buffer {
    return this.w.compact()
  }
}

/** About what an interval's endpoint points take as JSON, a little more rather than less. */
function jsonPointsSize(interval: IntervalSnapshot): number {
  let size = 0
  for (const e of interval.endpoints) {
    const names = e.method.length + e.route.length
    size += 3 * (270 + names) + 2 * e.histogram.counts.length
    if (e.layers) size += e.layers.length * 2 * (330 + names)
    for (const n of e.nPlusOne ?? []) size += 400 + names + 2 * n.statement.length
  }
  return size
}

/** An endpoint's data points of one metric, each after a comma but the first of its list. */
function jsonPoints(w: ByteWriter, metric: number, e: EndpointSnapshot, times: Buffer): void {
  switch (metric) {
    case 0:
      jsonPointStart(w, e, '', times)
      return w.utf8(`,"asInt":"${e.errors}"}`)
    case 1:
      jsonPointStart(w, e, '', times)
      return w.utf8(`,"asInt":"${e.aborted}"}`)
    case 2: {
      const h = e.histogram
      jsonPointStart(w, e, '', times)
      w.utf8(`,"count":"${h.count}","sum":${jsonNumber(h.sum)}`)
      w.utf8(`,"scale":${HISTOGRAM_SCALE},"zeroCount":"${h.zeroCount}"`)
      w.utf8(`,"positive":{"offset":${h.offset},"bucketCounts":`)
      w.jsonCounts(h.counts)
      if (h.count === 0) return w.utf8('}}')
      w.utf8(`},"min":${jsonNumber(h.min)}`)
      return w.utf8(`,"max":${jsonNumber(h.max)}}`)
    }
    case 3:
      for (const l of e.layers ?? []) {
        jsonPointStart(w, e, `,${jsonAttribute('agent.layer', l.layer)}`, times)
        w.utf8(`,"asDouble":${jsonNumber(l.timeS)}}`)
      }
      return
    case 4:
      for (const l of e.layers ?? []) {
        jsonPointStart(w, e, `,${jsonAttribute('agent.layer', l.layer)}`, times)
        w.utf8(`,"asInt":"${l.calls}"}`)
      }
      return
    case 5:
      for (const n of e.nPlusOne ?? []) {
        jsonPointStart(w, e, `,${jsonAttribute('agent.layer', n.layer)},${jsonAttribute('db.query.text', n.statement)}`, times)
        w.utf8(`,"asInt":"${n.requests}"}`)
      }
  }
}

/** A point's opening: its attributes (the endpoint's, then `more`) and the interval's times. */
function jsonPointStart(w: ByteWriter, e: EndpointSnapshot, more: string, times: Buffer): void {
  if (w.buf[w.pos - 1] !== 0x5b) w.byte(0x2c) // , but after the list's [
  w.bytes(METHOD_ATTRIBUTE)
  w.jsonString(e.method)
  w.bytes(ROUTE_ATTRIBUTE)
  w.jsonString(e.route)
  w.byte(0x7d) // }
  w.byte(0x7d)
  if (more) w.utf8(more)
  w.bytes(times)
}

/** An endpoint's attributes around its method and route. */
const METHOD_ATTRIBUTE = Buffer.from('{"attributes":[{"key":"http.request.method","value":{"stringValue":')
const ROUTE_ATTRIBUTE = Buffer.from('}},{"key":"http.route","value":{"stringValue":')
const jsonAttribute = (key: string, value: string) => `{"key":"${key}","value":{"stringValue":${JSON.stringify(value)}}}`
/** As JSON.stringify writes a number. */
const jsonNumber = (v: number) => (Number.isFinite(v) ? String(v) : 'null')

/**
 * Protobuf: each metric's points are written into a list of their own, an
 * endpoint at a time; the body is written at the end, the skeleton with the
 * lists in their places (the skeleton's messages need their lengths first).
 */
class ProtoMetricsBody {
  private readonly sections: { interval: IntervalSnapshot; points: ProtoEndpointPoints }[]
  private section = 0
  private endpoint = 0

  constructor(private readonly skeleton: object, intervals: IntervalSnapshot[]) {
    this.sections = intervals.map((interval) => ({ interval, points: new ProtoEndpointPoints(interval) }))
  }

  step(budgetMs: number): boolean {
    const startedAt = performance.now()
    for (; this.section < this.sections.length; this.section++, this.endpoint = 0) {
      const { interval, points } = this.sections[this.section]!
      while (this.endpoint < interval.endpoints.length) {
        points.add(interval.endpoints[this.endpoint++]!)
        if ((this.endpoint & 15) === 0 && performance.now() - startedAt > budgetMs && this.endpoint < interval.endpoints.length) return false
      }
    }
    return true
  }

  result(): Buffer {
    let pointBytes = 0
    for (const s of this.sections) for (const list of s.points.lists) pointBytes += list.pos
    const w = new ProtoWriter(pointBytes + 8192)
    writeMessage(w, this.skeleton, METRICS_REQUEST, (into, text) => {
      const found = MARKER.exec(text)
      if (!found) return false
      into.bytes(this.sections[Number(found[1])]!.points.lists[Number(found[2])]!.result())
      return true
    })
    return w.compact()
  }
}

/** Protobuf: each point an entry of its metric's data_points field, in one list per metric. */
class ProtoEndpointPoints {
  readonly lists: ProtoWriter[]
  private readonly parts: ProtoPointParts

  constructor(interval: IntervalSnapshot) {
    this.parts = new ProtoPointParts(nanosBigint(interval.startMs), nanosBigint(interval.endMs))
    // Sized for what they will hold, so they seldom grow.
    const n = interval.endpoints.length
    let buckets = 0
    for (const e of interval.endpoints) buckets += e.histogram.counts.length
    const counters = n * 96 + 64
    this.lists = [new ProtoWriter(counters), new ProtoWriter(counters), new ProtoWriter(buckets + n * 160 + 64), new ProtoWriter(1024), new ProtoWriter(1024), new ProtoWriter(1024)]
  }

  add(e: EndpointSnapshot): void {
    const { lists, parts } = this
    const times = parts.times
    const names = [['http.request.method', e.method], ['http.route', e.route]] as const
    const attributes = parts.attributes(NUMBER_ATTRIBUTE_TAG, names)
    writeNumberPoint(lists[0]!, attributes, times, e.errors, true)
    writeNumberPoint(lists[1]!, attributes, times, e.aborted, true)
    writeExponentialPoint(lists[2]!, parts.attributes(EXPONENTIAL_ATTRIBUTE_TAG, names), times, HISTOGRAM_SCALE, e.histogram)
    for (const l of e.layers ?? []) {
      const layered = parts.attributes(NUMBER_ATTRIBUTE_TAG, [...names, ['agent.layer', l.layer]])
      writeNumberPoint(lists[3]!, layered, times, l.timeS, false)
      writeNumberPoint(lists[4]!, layered, times, l.calls, true)
    }
    for (const n of e.nPlusOne ?? []) {
      writeNumberPoint(lists[5]!, parts.attributes(NUMBER_ATTRIBUTE_TAG, [...names, ['agent.layer', n.layer], ['db.query.text', n.statement]]), times, n.requests, true)
    }
  }
}

/**
 * A metrics payload encoded a slice at a time, so an interval with hundreds
 * of endpoints never holds the event loop for long: the payload's skeleton
 * (everything but the endpoints' data points) is built first as an object,
 * with a marker where each endpoint metric's data points go; `step` writes
 * the points as bytes until its time budget is spent; `result` is the body.
 */
export class MetricsEncoding {
  private readonly body: JsonMetricsBody | ProtoMetricsBody

  constructor(input: MetricsInput, protocol: OtlpProtocol = 'http/json') {
    const intervals: IntervalSnapshot[] = []
    const built = skeleton(input, (interval) => {
      const k = intervals.push(interval) - 1
      return Array.from({ length: ENDPOINT_METRICS }, (_, m) => [marker(k, m)])
    })
    this.body = protocol === 'http/protobuf'
      ? new ProtoMetricsBody(built, intervals)
      : new JsonMetricsBody(JSON.stringify(built), intervals.map((interval) => ({
        interval,
        // The attributes' end and the interval's times, the same in every point.
        times: Buffer.from(`],"startTimeUnixNano":"${nanos(interval.startMs)}","timeUnixNano":"${nanos(interval.endMs)}"`),
      })))
  }

  /** Encodes until `budgetMs` has passed (checked every 16 endpoints); true once all is done. */
  step(budgetMs: number): boolean {
    return this.body.step(budgetMs)
  }

  /** The body, once `step` returned true. */
  result(): Buffer {
    return this.body.result()
  }
}

function skeleton(input: MetricsInput, points: (interval: IntervalSnapshot) => unknown[][]): object {
  const temporality = input.temporality === 'cumulative' ? CUMULATIVE : DELTA
  const own = scopeMetrics(input.interval, input.runtime, input.drops, temporality, points)
  if (input.lost && input.lost.length > 0) {
    const start = nanos(input.interval.startMs)
    const end = nanos(input.interval.endMs)
    own.metrics.push(sum('agent.cluster.lost_intervals', '{interval}', start, end, [{ attributes: [], value: input.lost.length }]))
    const perWorker = input.lost.map((l) => ({ attributes: [attr('agent.worker.id', String(l.workerId)), attr('process.pid', l.pid)], value: l.seconds }))
    own.metrics.push(sum('agent.cluster.lost_seconds', 's', start, end, perWorker))
  }
  const resourceMetrics = [{ resource: { attributes: input.resource }, scopeMetrics: [own] }]
  for (const p of input.processes ?? []) {
    const attributes = p.handOverThrough ? [...p.resource, attr(HAND_OVER_THROUGH, p.handOverThrough)] : p.resource
    resourceMetrics.push({ resource: { attributes }, scopeMetrics: [scopeMetrics(p.interval, p.runtime, undefined, temporality, points)] })
  }
  for (const o of input.orphans ?? []) {
    const attributes = [...input.resource, attr(HAND_OVER_FROM, o.from), attr(HAND_OVER_THROUGH, o.through)]
    resourceMetrics.push({ resource: { attributes }, scopeMetrics: [scopeMetrics(o.interval, undefined, undefined, temporality, points)] })
  }
  return { resourceMetrics }
}

export function encodeTraces(resource: KeyValue[], traces: TraceRecord[]): string {
  return JSON.stringify(tracesRequest(resource, traces))
}

/** The traces payload in `protocol`. */
export function tracesBody(resource: KeyValue[], traces: TraceRecord[], protocol: OtlpProtocol): Buffer {
  return body(tracesRequest(resource, traces), TRACES_REQUEST, protocol)
}

/** A request object in JSON form, as the body of `protocol`. */
function body(request: object, schema: typeof TRACES_REQUEST, protocol: OtlpProtocol): Buffer {
  if (protocol !== 'http/protobuf') return Buffer.from(JSON.stringify(request))
  const w = new ProtoWriter(4096)
  writeMessage(w, request, schema)
  return w.compact()
}

function tracesRequest(resource: KeyValue[], traces: TraceRecord[]): object {
  const spans: unknown[] = []
  for (const t of traces) {
    const { traceId, spanId: root, parentSpanId, traceState } = t.trace
    const job = t.job
    const rootAttrs = job
      ? [...jobAttributes(job), attr('agent.job.outcome', job.outcome), ...(job.id !== undefined ? [attr('agent.job.id', job.id)] : []), attr('agent.trace.reason', t.reason)]
      : [attr('http.request.method', t.method), attr('http.route', t.route), attr('url.path', t.url), attr('http.response.status_code', t.status), attr('agent.trace.reason', t.reason)]
    if (t.aborted) rootAttrs.push(attr('agent.request.aborted', true))
    if (t.droppedSpans) rootAttrs.push(attr('agent.spans.dropped', t.droppedSpans))
    spans.push({
      traceId, spanId: root, ...(parentSpanId ? { parentSpanId } : {}), ...(traceState ? { traceState } : {}),
      name: job ? t.route : (t.name ?? `${t.method} ${t.route}`), kind: job ? SPAN_KIND_CONSUMER : SPAN_KIND_SERVER,
      startTimeUnixNano: nanos(t.startEpochMs), endTimeUnixNano: nanos(t.startEpochMs + t.durationMs),
      attributes: rootAttrs,
      status: t.error || t.status >= 500 || (job && job.outcome !== 'completed') ? { code: STATUS_ERROR, message: t.error ?? (job ? `job ${job.outcome}` : `HTTP ${t.status}`) } : {},
    })
    for (const s of t.spans) {
      spans.push({
        traceId, spanId: s.spanId ?? newSpanId(), parentSpanId: root, name: s.name, kind: s.client ? SPAN_KIND_CLIENT : SPAN_KIND_INTERNAL,
        startTimeUnixNano: nanos(t.startEpochMs + s.offsetMs), endTimeUnixNano: nanos(t.startEpochMs + s.offsetMs + s.durationMs),
        attributes: Object.entries(s.attributes ?? {}).map(([k, v]) => attr(k, v)),
        status: s.error ? { code: STATUS_ERROR, message: s.error } : {},
      })
    }
  }
  return { resourceSpans: [{ resource: { attributes: resource }, scopeSpans: [{ scope, spans }] }] }
}

export interface LogInput {
  timeMs: number
  /** The trace of the request it happened in. */
  traceId?: string
  spanId?: string
  severity: 'error' | 'info'
  body: string
  eventName: string
  attributes: Record<string, string | number | boolean>
}

export function errorLogs(groups: ErrorGroup[]): LogInput[] {
  return groups.map((g) => ({
    timeMs: g.firstSeenMs,
    ...(g.traceId ? { traceId: g.traceId, spanId: g.spanId } : {}),
    severity: 'error',
    body: `${g.type}: ${g.message}`,
    eventName: 'exception',
    attributes: {
      'exception.type': g.type,
      'exception.message': g.message,
      'exception.stacktrace': g.stack,
      'agent.error.fingerprint': g.fingerprint,
      'agent.error.count': g.count,
      'agent.error.last_seen_ms': g.lastSeenMs,
      'http.request.method': g.method,
      'http.route': g.route,
      ...(g.context ? { 'agent.error.context': JSON.stringify(g.context) } : {}),
    },
  }))
}

/** The app-server-load report: this process started, with its role and framework. */
export function processStartLog(identity: ProcessIdentity, framework: FrameworkInfo | undefined): LogInput {
  return {
    timeMs: identity.createdAtMs,
    severity: 'info',
    body: 'process started',
    eventName: 'agent.process.start',
    attributes: {
      'process.pid': identity.pid,
      'process.parent_pid': identity.ppid,
      'host.name': identity.hostname,
      'process.runtime.version': process.versions.node,
      'agent.process.role': identity.role,
      'agent.process.start_time_ms': Math.round(performance.timeOrigin),
      ...(framework ? { 'agent.framework.name': framework.name, 'agent.framework.version': framework.version } : {}),
    },
  }
}

export function encodeLogs(resource: KeyValue[], logs: LogInput[]): string {
  return JSON.stringify(logsRequest(resource, logs))
}

/** The logs payload in `protocol`. */
export function logsBody(resource: KeyValue[], logs: LogInput[], protocol: OtlpProtocol): Buffer {
  return body(logsRequest(resource, logs), LOGS_REQUEST, protocol)
}

function logsRequest(resource: KeyValue[], logs: LogInput[]): object {
  return {
    resourceLogs: [{
      resource: { attributes: resource },
      scopeLogs: [{
        scope,
        logRecords: logs.map((l) => ({
          timeUnixNano: nanos(l.timeMs),
          ...(l.traceId ? { traceId: l.traceId, spanId: l.spanId } : {}),
          observedTimeUnixNano: nanos(Date.now()),
          severityNumber: l.severity === 'error' ? SEVERITY_ERROR : SEVERITY_INFO,
          severityText: l.severity.toUpperCase(),
          body: { stringValue: l.body },
          attributes: [attr('event.name', l.eventName), ...Object.entries(l.attributes).map(([k, v]) => attr(k, v))],
        })),
      }],
    }],
  }
}
