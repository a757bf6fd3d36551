import { createHash } from 'node:crypto'
import type { Db } from './sqlite.js'
import { LatencyHistogram } from '@agent/core/internal'
import { CUMULATIVE, toDelta, type PointKind } from './cumulative-delta.js'
import { fromExplicit, fromExponential, secondsPerUnit } from './histogram-convert.js'
import { addPoint, addToRollups } from './rollups.js'

/** The endpoint of requests an SDK measured without a route template. */
export const NO_ROUTE = '(no route)'

/** A payload that cannot be stored; the reason goes back in the 400. */
export class InvalidPayload extends Error {}

type KV = { key: string; value: Record<string, unknown> }

function fail(path: string, expected: string): never {
  throw new InvalidPayload(`${path}: expected ${expected}`)
}

function array(value: unknown, path: string): unknown[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) fail(path, 'an array')
  return value
}

function object(value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(path, 'an object')
  return value as Record<string, unknown>
}

function attributes(value: unknown, path: string): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {}
  for (const [i, raw] of array(value, path).entries()) {
    const kv = object(raw, `${path}[${i}]`) as unknown as KV
    if (typeof kv.key !== 'string') fail(`${path}[${i}].key`, 'a string')
    const v = object(kv.value, `${path}[${i}].value`)
    const scalar = v.stringValue ?? v.boolValue ?? v.doubleValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined)
    if (scalar !== undefined) out[kv.key] = scalar as string | number | boolean
  }
  return out
}

/** OTLP/JSON encodes 64-bit integers as strings (numbers are accepted too). */
function int(value: unknown, path: string): number {
  const n = typeof value === 'string' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isFinite(n)) fail(path, 'an integer')
  return n
}

const nanosToMs = (v: unknown, path: string) => int(v, path) / 1e6

function upsertProcess(db: Db, instance: string, r: Record<string, string | number | boolean>, now: number, seen: { interval?: number; hasMetrics?: boolean } = {}): void {
  const service = String(r['service.name'] ?? 'unknown_service')
  db.prepare(`INSERT INTO processes (instance_id, service, host, pid, ppid, role, parent_instance_id, worker_id, framework, runtime_version, first_seen, last_seen, interval_ms, has_metrics)
    VALUES (@instance, @service, @host, @pid, @ppid, @role, @parent, @worker, @framework, @runtime, @now, @now, @interval, @hasMetrics)
    ON CONFLICT(instance_id) DO UPDATE SET last_seen = max(last_seen, @now), role = @role,
      interval_ms = COALESCE(@interval, interval_ms), has_metrics = max(has_metrics, @hasMetrics)`).run({
    instance, service, host: String(r['host.name'] ?? ''), pid: Number(r['process.pid'] ?? 0), ppid: Number(r['process.parent_pid'] ?? 0),
    role: String(r['agent.process.role'] ?? 'standalone'), parent: r['agent.parent.instance.id'] !== undefined ? String(r['agent.parent.instance.id']) : null,
    worker: r['agent.worker.id'] !== undefined ? String(r['agent.worker.id']) : null,
    framework: r['agent.framework.name'] !== undefined ? `${r['agent.framework.name']} ${r['agent.framework.version'] ?? ''}`.trim() : null,
    runtime: r['process.runtime.version'] !== undefined ? String(r['process.runtime.version']) : null, now,
    interval: seen.interval ? Math.round(seen.interval) : null, hasMetrics: seen.hasMetrics ? 1 : 0,
  })
}

/** `service.instance.id`, or for SDKs that do not set it, one derived from the resource (stable per process). */
function instanceOf(r: Record<string, string | number | boolean>): string {
  const id = r['service.instance.id']
  if (id !== undefined && String(id)) return String(id)
  const keys = Object.keys(r).sort()
  return `derived-${createHash('sha256').update(JSON.stringify(keys.map((k) => [k, r[k]]))).digest('hex').slice(0, 16)}`
}

/** The agent selects its slow traces itself and always sends endpoint metrics. */
const isAgent = (r: Record<string, string | number | boolean>) => r['telemetry.sdk.name'] === '@agent/core'

const DURATION_METRICS = new Map([
  // Semantic conventions' unit is seconds; the agent sent ms before it followed them, and says so in `unit`.
  ['http.server.request.duration', 's'],
  // OpenTelemetry JS's HTTP instrumentation sends the older name, in ms, unless told otherwise.
  ['http.server.duration', 'ms'],
])

const SPAN_KIND_SERVER = 2
const SPAN_KIND_CONSUMER = 5
const STATUS_ERROR = 2

interface EndpointRow {
  method: string; route: string; start: number; end: number
  count: number; errors: number; aborted: number; counted: boolean; erred: boolean
  histCount: number; histErrors: number; hist: LatencyHistogram | undefined
}

function endpointOf(map: Map<string, EndpointRow>, a: Record<string, string | number | boolean>, start: number, end: number): EndpointRow {
  const method = String(a['http.request.method'] ?? a['http.method'] ?? '')
  const route = String(a['http.route'] ?? NO_ROUTE)
  const key = `${method} ${route}`
  let e = map.get(key)
  if (!e) map.set(key, (e = { method, route, start, end, count: 0, errors: 0, aborted: 0, counted: false, erred: false, histCount: 0, histErrors: 0, hist: undefined }))
  e.start = Math.min(e.start, start)
  e.end = Math.max(e.end, end)
  return e
}

function storeEndpoints(db: Db, instance: string, service: string, endpoints: Iterable<EndpointRow>, source: 'metrics' | 'spans'): void {
  const insert = db.prepare(`INSERT INTO endpoint_points (instance_id, service, method, route, start_ms, end_ms, count, errors, aborted, hist, unit, source)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 's', ?)`)
  for (const e of endpoints) {
    // The agent counts requests in sums; SDKs only in the histogram (errors by status code).
    const count = e.counted ? e.count : e.histCount
    const errors = e.erred ? e.errors : e.histErrors
    if (count === 0 && !e.hist?.count) continue
    const end = Math.round(e.end)
    insert.run(instance, service, e.method, e.route, Math.round(e.start), end, count, errors, e.aborted, e.hist ? JSON.stringify(e.hist.toJSON()) : null, source)
    addToRollups(db, { family: 'endpoint', service, key: JSON.stringify([e.method, e.route, source, source === 'spans' ? instance : '']), endMs: end, n1: count, n2: errors, n3: e.aborted, hist: e.hist ? e.hist.toJSON() : null })
    addToRollups(db, { family: 'requests', service, key: JSON.stringify([instance, source]), endMs: end, n1: count })
  }
}

type Attrs = Record<string, string | number | boolean>

/** The agent's metrics of where time goes and of jobs (issues #15, #17), and the point kinds each may come as. */
const WORK_METRICS: Record<string, { kinds: string[]; duration?: boolean }> = {
  'agent.layer.duration': { kinds: ['sum'], duration: true },
  'agent.layer.calls': { kinds: ['sum'] },
  'agent.n_plus_one.requests': { kinds: ['sum'] },
  'agent.job.duration': { kinds: ['histogram', 'exponentialHistogram'], duration: true },
  'agent.job.wait': { kinds: ['histogram', 'exponentialHistogram'], duration: true },
  'agent.queue.jobs': { kinds: ['gauge'] },
}

/** A job's name as the dashboard shows it: `queue/jobName`, or the job's name alone without a queue. */
export const jobName = (queue: string, job: string) => (queue ? `${queue}/${job}` : job)

/** What a layer or N+1 point belongs to: a job (agent.job.name) or an HTTP endpoint (`GET /users/:id`). */
function workOf(a: Attrs): { kind: 'http' | 'job'; endpoint: string } {
  if (a['agent.job.name'] !== undefined) return { kind: 'job', endpoint: jobName(String(a['messaging.destination.name'] ?? ''), String(a['agent.job.name'])) }
  return { kind: 'http', endpoint: `${String(a['http.request.method'] ?? a['http.method'] ?? '')} ${String(a['http.route'] ?? NO_ROUTE)}` }
}

interface Work {
  layers: Map<string, { key: string; end: number; seconds: number; calls: number }>
  nPlusOne: Map<string, { end: number; requests: number }>
  jobs: Map<string, { end: number; count: number; hist: LatencyHistogram }>
  queues: { queue: string; state: string; time: number; value: number }[]
}

const newWork = (): Work => ({ layers: new Map(), nPlusOne: new Map(), jobs: new Map(), queues: [] })

function addWork(w: Work, name: string, kind: PointKind, p: Record<string, unknown>, a: Attrs, end: number, factor: number, path: string): void {
  if (kind === 'sum') {
    const value = Number(p.asDouble ?? p.asInt ?? 0)
    if (!Number.isFinite(value)) fail(`${path}.asDouble`, 'a number')
    const { kind: k, endpoint } = workOf(a)
    const layer = String(a['agent.layer'] ?? '')
    if (name === 'agent.n_plus_one.requests') {
      const key = JSON.stringify([k, endpoint, layer, String(a['db.query.text'] ?? '')])
      const e = w.nPlusOne.get(key) ?? { end, requests: 0 }
      e.end = Math.max(e.end, end)
      e.requests += value
      w.nPlusOne.set(key, e)
      return
    }
    const key = JSON.stringify([k, endpoint, layer])
    const e = w.layers.get(key) ?? { key, end, seconds: 0, calls: 0 }
    e.end = Math.max(e.end, end)
    if (name === 'agent.layer.duration') e.seconds += value * factor
    else e.calls += value
    w.layers.set(key, e)
    return
  }
  const h = kind === 'histogram' ? fromExplicit(p, factor) : fromExponential(p, factor)
  const metric = name === 'agent.job.duration' ? 'duration' : 'wait'
  const key = JSON.stringify([String(a['messaging.destination.name'] ?? ''), String(a['agent.job.name'] ?? ''), String(a['messaging.system'] ?? ''), metric, metric === 'duration' ? String(a['agent.job.outcome'] ?? '') : ''])
  const e = w.jobs.get(key) ?? { end, count: 0, hist: new LatencyHistogram() }
  e.end = Math.max(e.end, end)
  e.count += h.count
  e.hist.merge(h)
  w.jobs.set(key, e)
}

function storeWork(db: Db, instance: string, service: string, w: Work): void {
  for (const l of w.layers.values()) addPoint(db, instance, { family: 'layer', service, key: l.key, endMs: l.end, n1: l.seconds, n2: l.calls })
  for (const [key, n] of w.nPlusOne) addPoint(db, instance, { family: 'nplusone', service, key, endMs: n.end, n1: n.requests })
  for (const [key, j] of w.jobs) if (j.count > 0) addPoint(db, instance, { family: 'job', service, key, endMs: j.end, n1: j.count, hist: j.hist.toJSON() })
  if (w.queues.length) {
    const insert = db.prepare('INSERT INTO queue_points (service, instance_id, queue, state, time_ms, value) VALUES (?, ?, ?, ?, ?, ?)')
    const known = db.prepare('INSERT OR IGNORE INTO queues (service, queue, state) VALUES (?, ?, ?)')
    for (const q of w.queues) {
      insert.run(service, instance, q.queue, q.state, Math.round(q.time), q.value)
      known.run(service, q.queue, q.state)
    }
  }
}

const statusOf = (a: Record<string, string | number | boolean>) => Number(a['http.response.status_code'] ?? a['http.status_code'] ?? 0)
const temporalityOf = (v: unknown) => (v === CUMULATIVE || v === 'AGGREGATION_TEMPORALITY_CUMULATIVE' ? CUMULATIVE : 1)

/**
 * Cluster hand-overs are numbered (the agent's agent.handover.* resource
 * attributes): a primary's breakdown of a worker says through which hand-over
 * it holds that worker's data; a worker whose primary died re-sends what was
 * never acknowledged, from/through. What the primary already delivered is
 * stored once: true for such a re-send, which is then skipped.
 */
function deliveredBefore(db: Db, instance: string, resource: Record<string, string | number | boolean>): boolean {
  const through = resource['agent.handover.through']
  if (typeof through !== 'number') return false
  if (resource['agent.handover.from'] === undefined) {
    db.prepare('INSERT INTO handovers (instance_id, through) VALUES (?, ?) ON CONFLICT(instance_id) DO UPDATE SET through = max(through, excluded.through)').run(instance, through)
    return false
  }
  const stored = db.prepare('SELECT through FROM handovers WHERE instance_id = ?').get(instance) as { through: number } | undefined
  return stored !== undefined && through <= stored.through
}

/** Validates and stores an ExportMetricsServiceRequest in one transaction: all of it, or nothing and the reason. */
/**
 * The agent's per-endpoint sums: errors and aborts (its requests are the
 * duration histogram's count), and the names the agent sent before,
 * `http.server.request.count` among them.
 */
const REQUEST_SUMS = new Map<string, 'count' | 'errors' | 'aborted'>([
  ['agent.http.server.request.errors', 'errors'],
  ['agent.http.server.request.aborted', 'aborted'],
  ['http.server.request.count', 'count'],
  ['http.server.request.errors', 'errors'],
  ['http.server.request.aborted', 'aborted'],
])

export function ingestMetrics(db: Db, body: unknown): void {
  db.transaction(() => {
    const root = object(body, '$')
    const now = Date.now()
    for (const [ri, rmRaw] of array(root.resourceMetrics, '$.resourceMetrics').entries()) {
      const rm = object(rmRaw, `$.resourceMetrics[${ri}]`)
      const resource = attributes(object(rm.resource ?? {}, `$.resourceMetrics[${ri}].resource`).attributes, `$.resourceMetrics[${ri}].resource.attributes`)
      const service = String(resource['service.name'] ?? 'unknown_service')
      const instance = instanceOf(resource)
      if (deliveredBefore(db, instance, resource)) continue
      const endpoints = new Map<string, EndpointRow>()
      const work_ = newWork()
      const runtime: { name: string; time: number; value: number }[] = []
      const counters: { name: string; value: number; time: number }[] = []
      let interval = 0
      for (const [si, smRaw] of array(rm.scopeMetrics, `$.resourceMetrics[${ri}].scopeMetrics`).entries()) {
        const sm = object(smRaw, `$.resourceMetrics[${ri}].scopeMetrics[${si}]`)
        for (const [mi, mRaw] of array(sm.metrics, `$.resourceMetrics[${ri}].scopeMetrics[${si}].metrics`).entries()) {
          const path = `$.resourceMetrics[${ri}].scopeMetrics[${si}].metrics[${mi}]`
          const m = object(mRaw, path)
          if (typeof m.name !== 'string') fail(`${path}.name`, 'a string')
          const name = m.name
          const kind: PointKind | 'gauge' | undefined = m.sum ? 'sum' : m.gauge ? 'gauge' : m.exponentialHistogram ? 'exponentialHistogram' : m.histogram ? 'histogram' : undefined
          if (!kind) continue
          const data = object(m[kind], `${path}.${kind}`)
          const cumulative = kind !== 'gauge' && temporalityOf(data.aggregationTemporality) === CUMULATIVE
          const defaultUnit = DURATION_METRICS.get(name)
          const gaugeSeconds = kind === 'gauge' ? secondsPerUnit(m.unit) : undefined
          const gaugeToMs = gaugeSeconds === undefined ? undefined : gaugeSeconds * 1000
          let factor = 1
          if (defaultUnit !== undefined) {
            const unit = m.unit === undefined || m.unit === '' ? defaultUnit : m.unit
            const f = secondsPerUnit(unit)
            if (f === undefined) fail(`${path}.unit`, `a duration unit ("s" or "ms"), not ${JSON.stringify(unit)}`)
            factor = f
          }
          const work = WORK_METRICS[name]
          // Another shape under one of these names (another sender's) is not ours to read: skipped, the rest stored.
          if (work && !work.kinds.includes(kind)) continue
          let workFactor = 1
          if (work?.duration) {
            const f = secondsPerUnit(m.unit === undefined || m.unit === '' ? 's' : m.unit)
            if (f === undefined) fail(`${path}.unit`, `a duration unit ("s" or "ms"), not ${JSON.stringify(m.unit)}`)
            workFactor = f
          }
          for (const [pi, pRaw] of array(data.dataPoints, `${path}.dataPoints`).entries()) {
            const ppath = `${path}.dataPoints[${pi}]`
            let p = object(pRaw, ppath)
            const a = attributes(p.attributes, `${ppath}.attributes`)
            const end = nanosToMs(p.timeUnixNano, `${ppath}.timeUnixNano`)
            let start = p.startTimeUnixNano !== undefined ? nanosToMs(p.startTimeUnixNano, `${ppath}.startTimeUnixNano`) : end
            if (name === 'agent.queue.jobs' && kind === 'gauge') {
              const value = Number(p.asDouble ?? p.asInt)
              if (!Number.isFinite(value)) fail(`${ppath}.asDouble`, 'a number')
              work_.queues.push({ queue: String(a['messaging.destination.name'] ?? ''), state: String(a['agent.queue.state'] ?? ''), time: end, value })
              continue
            }
            if (kind === 'gauge') {
              const value = Number(p.asDouble ?? p.asInt)
              if (!Number.isFinite(value)) fail(`${ppath}.asDouble`, 'a number')
              // Durations are kept in ms whatever unit they came in (semantic conventions use seconds).
              runtime.push({ name, time: end, value: value * (gaugeToMs ?? 1) })
              continue
            }
            if (kind === 'histogram' && name === 'v8js.gc.duration') {
              // GC pauses (OpenTelemetry's histogram, in seconds): their total in the interval, in ms, as a runtime point.
              const total = Number(p.sum ?? 0) * (secondsPerUnit(m.unit) ?? 1) * 1000
              if (Number.isFinite(total)) runtime.push({ name, time: end, value: total })
              continue
            }
            if (cumulative) {
              const series = `${instance}\u0000${name}\u0000${JSON.stringify(Object.entries(a).sort(([x], [y]) => (x < y ? -1 : 1)))}`
              ;({ point: p, startMs: start } = toDelta(db, series, kind, p, start, end))
            }
            const isEndpointMetric = defaultUnit !== undefined || REQUEST_SUMS.has(name) || name === 'agent.job.duration'
            if (isEndpointMetric) interval = Math.max(interval, end - start)
            if (work) {
              addWork(work_, name, kind, p, a, end, workFactor, ppath)
            } else if (defaultUnit !== undefined && kind !== 'sum') {
              const e = endpointOf(endpoints, a, start, end)
              const h = kind === 'histogram' ? fromExplicit(p, factor) : fromExponential(p, factor)
              e.hist = (e.hist ?? new LatencyHistogram()).merge(h)
              e.histCount += h.count
              if (statusOf(a) >= 500) e.histErrors += h.count
            } else if (REQUEST_SUMS.has(name) && kind === 'sum') {
              const e = endpointOf(endpoints, a, start, end)
              const value = int(p.asInt ?? p.asDouble ?? 0, `${ppath}.asInt`)
              const field = REQUEST_SUMS.get(name)
              if (field === 'count') (e.count += value), (e.counted = true)
              else if (field === 'errors') (e.errors += value), (e.erred = true)
              else e.aborted += value
            } else if (kind === 'sum') {
              counters.push({ name, value: int(p.asInt ?? p.asDouble ?? 0, `${ppath}.asInt`), time: end })
            }
          }
        }
      }
      if (interval === 0 && runtime.length > 0) {
        // A process that served nothing in the interval (a cluster primary) still reports its runtime: its cadence is the gap between gauges.
        const prev = (db.prepare('SELECT MAX(time_ms) AS t FROM runtime_points WHERE instance_id = ? AND name = ?').get(instance, runtime[0]!.name) as { t: number | null }).t
        if (prev !== null && runtime[0]!.time > prev) interval = runtime[0]!.time - prev
      }
      upsertProcess(db, instance, resource, now, { interval, hasMetrics: endpoints.size > 0 })
      storeEndpoints(db, instance, service, endpoints.values(), 'metrics')
      const rt = db.prepare('INSERT INTO runtime_points (instance_id, time_ms, name, value) VALUES (?, ?, ?, ?)')
      for (const r of runtime) {
        rt.run(instance, Math.round(r.time), r.name, r.value)
        addToRollups(db, { family: 'runtime', service, key: JSON.stringify([instance, r.name]), endMs: r.time, n1: r.value, n2: 1 })
      }
      storeWork(db, instance, service, work_)
      const counter = db.prepare('INSERT INTO counter_points VALUES (?, ?, ?, ?)')
      for (const c of counters) counter.run(service, c.name, Math.round(c.time), c.value)
    }
  })()
}

export interface TraceOptions {
  /** Server spans at least this long (ms) are listed as slow traces; the agent's are, whatever their length (it chose them). */
  slowMs: number
}

export function ingestTraces(db: Db, body: unknown, options: TraceOptions): void {
  db.transaction(() => {
    const root = object(body, '$')
    const now = Date.now()
    const insert = db.prepare('INSERT OR REPLACE INTO spans (trace_id, span_id, parent_span_id, instance_id, service, name, start_ms, end_ms, status_code, attributes, kind, slow, trace_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    for (const [ri, rsRaw] of array(root.resourceSpans, '$.resourceSpans').entries()) {
      const rs = object(rsRaw, `$.resourceSpans[${ri}]`)
      const resource = attributes(object(rs.resource ?? {}, `$.resourceSpans[${ri}].resource`).attributes, `$.resourceSpans[${ri}].resource.attributes`)
      const service = String(resource['service.name'] ?? 'unknown_service')
      const instance = instanceOf(resource)
      const fromAgent = isAgent(resource)
      // Server spans also count as requests, for apps that send traces without the duration metric.
      const endpoints = new Map<string, EndpointRow>()
      upsertProcess(db, instance, resource, now)
      for (const [si, ssRaw] of array(rs.scopeSpans, `$.resourceSpans[${ri}].scopeSpans`).entries()) {
        for (const [i, sRaw] of array(object(ssRaw, `$.resourceSpans[${ri}].scopeSpans[${si}]`).spans, 'spans').entries()) {
          const path = `$.resourceSpans[${ri}].scopeSpans[${si}].spans[${i}]`
          const s = object(sRaw, path)
          if (typeof s.traceId !== 'string' || !/^[0-9a-f]{32}$/i.test(s.traceId)) fail(`${path}.traceId`, '32 hex digits')
          if (typeof s.spanId !== 'string' || !/^[0-9a-f]{16}$/i.test(s.spanId)) fail(`${path}.spanId`, '16 hex digits')
          const parent = typeof s.parentSpanId === 'string' && s.parentSpanId ? s.parentSpanId : null
          const start = nanosToMs(s.startTimeUnixNano, `${path}.startTimeUnixNano`)
          const end = nanosToMs(s.endTimeUnixNano, `${path}.endTimeUnixNano`)
          const kind = Number(s.kind ?? 0)
          const status = Number((s.status as { code?: number } | undefined)?.code ?? 0)
          const attrs = attributes(s.attributes, `${path}.attributes`)
          // A trace is listed from its server span, or a job's consumer span (its parent may be a client span or another service).
          const isRoot = kind === SPAN_KIND_SERVER || kind === SPAN_KIND_CONSUMER
          const slow = isRoot && (fromAgent || end - start >= options.slowMs) ? 1 : 0
          const traceState = typeof s.traceState === 'string' && s.traceState ? s.traceState : null
          insert.run(s.traceId, s.spanId, parent, instance, service, String(s.name ?? ''), start, end, status, JSON.stringify(attrs), kind, slow, traceState)
          if (kind === SPAN_KIND_SERVER) {
            const e = endpointOf(endpoints, attrs, start, end)
            e.histCount++
            if (statusOf(attrs) >= 500 || status === STATUS_ERROR) e.histErrors++
            ;(e.hist ??= new LatencyHistogram()).record((end - start) / 1000)
          }
        }
      }
      storeEndpoints(db, instance, service, endpoints.values(), 'spans')
    }
  })()
}

export function ingestLogs(db: Db, body: unknown): void {
  db.transaction(() => {
    const root = object(body, '$')
    for (const [ri, rlRaw] of array(root.resourceLogs, '$.resourceLogs').entries()) {
      const rl = object(rlRaw, `$.resourceLogs[${ri}]`)
      const resource = attributes(object(rl.resource ?? {}, `$.resourceLogs[${ri}].resource`).attributes, `$.resourceLogs[${ri}].resource.attributes`)
      const service = String(resource['service.name'] ?? 'unknown_service')
      const errors: Record<string, string | number | boolean>[] = []
      for (const [si, slRaw] of array(rl.scopeLogs, `$.resourceLogs[${ri}].scopeLogs`).entries()) {
        for (const [i, lrRaw] of array(object(slRaw, `$.resourceLogs[${ri}].scopeLogs[${si}]`).logRecords, 'logRecords').entries()) {
          const lr = object(lrRaw, `$.resourceLogs[${ri}].scopeLogs[${si}].logRecords[${i}]`)
          const a = attributes(lr.attributes, `$.resourceLogs[${ri}].scopeLogs[${si}].logRecords[${i}].attributes`)
          if (a['event.name'] === 'exception') errors.push(a)
        }
      }
      upsertProcess(db, instanceOf(resource), resource, Date.now())
      const upsert = db.prepare(`INSERT INTO errors VALUES (@service, @fp, @type, @message, @stack, @method, @route, @count, @first, @last, @context)
        ON CONFLICT(service, fingerprint) DO UPDATE SET count = count + excluded.count, last_seen = max(last_seen, excluded.last_seen)`)
      for (const e of errors) {
        upsert.run({ service, fp: String(e['agent.error.fingerprint'] ?? `${e['exception.type']}:${e['exception.message']}`), type: String(e['exception.type'] ?? 'Error'),
          message: String(e['exception.message'] ?? ''), stack: String(e['exception.stacktrace'] ?? ''), method: String(e['http.request.method'] ?? ''), route: String(e['http.route'] ?? ''),
          count: Number(e['agent.error.count'] ?? 1), first: Date.now(), last: Number(e['agent.error.last_seen_ms'] ?? Date.now()), context: e['agent.error.context'] !== undefined ? String(e['agent.error.context']) : null })
      }
    }
  })()
}
