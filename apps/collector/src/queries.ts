// What the dashboard and /api/* read, each within a time range. Latencies come out in ms.
import { LatencyHistogram } from '@agent/core/internal'
import type { Db } from './sqlite.js'
import { mergeStored } from './stored-histogram.js'
import type { TimeRange } from './time-range.js'
import { mergeRow, readFamily, readRollups, segmentsOf, type ReadOptions } from './rollups.js'
import { NO_ROUTE, jobName } from './otlp-ingest.js'

/** An endpoint's figures over one stretch of time: a stored point, or a rollup of many. */
interface EndpointRow { t: number; method: string; route: string; count: number; errors: number; aborted: number; hist: string | null; unit: string }

const round = (n: number) => Math.round(n * 100) / 100
/** Rates of a few requests over hours are small: four decimals keep them from showing as 0. */
const rate = (n: number) => Math.round(n * 10_000) / 10_000
const ms = (h: LatencyHistogram, q: number) => round(h.quantile(q) * 1000)

/** Parses rollup keys, each once per query (a week of a key's rollups repeats it hundreds of times). */
function keyParser<T extends unknown[]>(): (key: string) => T {
  const seen = new Map<string, T>()
  return (key) => {
    let k = seen.get(key)
    if (!k) seen.set(key, (k = JSON.parse(key) as T))
    return k
  }
}

/** Instances that send endpoint metrics: their server spans are not counted again as requests. */
const metricSenders = (db: Db) => new Set((db.prepare('SELECT instance_id FROM processes WHERE has_metrics = 1').all() as { instance_id: string }[]).map((r) => r.instance_id))

/**
 * Endpoint figures of a service in a range: whole hours, 5 minutes or minutes from the rollups
 * (only sizes that nest in `bucketMs`, for charts), the edges from the points. Points read from
 * server spans count only for processes that send no endpoint metrics (an app that traces
 * everything but sends no metrics); otherwise a request would count twice.
 */
function endpointRows(db: Db, service: string, range: TimeRange, options: ReadOptions, bucketMs?: number): EndpointRow[] {
  const rows: EndpointRow[] = []
  let senders: Set<string> | undefined
  const parse = keyParser<[string, string, string, string]>()
  for (const seg of segmentsOf('endpoint', range.from, range.to, options, bucketMs)) {
    if (seg.size) {
      for (const r of readRollups(db, 'endpoint', service, seg)) {
        const [method, route, source, instance] = parse(r.key)
        if (source === 'spans' && (senders ??= metricSenders(db)).has(instance)) continue
        rows.push({ t: r.t, method, route, count: r.n1, errors: r.n2, aborted: r.n3, hist: r.hist, unit: 's' })
      }
      continue
    }
    const points = db.prepare(`SELECT end_ms AS t, method, route, count, errors, aborted, hist, unit FROM endpoint_points e
      WHERE e.service = ? AND e.end_ms >= ? AND e.end_ms < ?
        AND (e.source = 'metrics' OR NOT EXISTS (SELECT 1 FROM processes p WHERE p.instance_id = e.instance_id AND p.has_metrics = 1))`).all(service, seg.lo, seg.hi) as EndpointRow[]
    for (const p of points) rows.push(p)
  }
  return rows
}

export function services(db: Db): string[] {
  return (db.prepare('SELECT DISTINCT service FROM processes ORDER BY service').all() as { service: string }[]).map((r) => r.service)
}

export interface EndpointSummary { method: string; route: string; count: number; errors: number; aborted: number; errorRate: number; p50: number; p95: number; p99: number; perSecond: number }

interface EndpointTotal { method: string; route: string; count: number; errors: number; aborted: number; h: LatencyHistogram }

function endpointTotals(db: Db, service: string, range: TimeRange, options: ReadOptions): Map<string, EndpointTotal> {
  const byEndpoint = new Map<string, EndpointTotal>()
  for (const r of endpointRows(db, service, range, options)) {
    const key = `${r.method} ${r.route}`
    let e = byEndpoint.get(key)
    if (!e) byEndpoint.set(key, (e = { method: r.method, route: r.route, count: 0, errors: 0, aborted: 0, h: new LatencyHistogram() }))
    e.count += r.count
    e.errors += r.errors
    e.aborted += r.aborted
    mergeStored(e.h, r.hist, r.unit)
  }
  return byEndpoint
}

export function endpointSummary(db: Db, service: string, range: TimeRange, options: ReadOptions = {}): EndpointSummary[] {
  return [...endpointTotals(db, service, range, options).values()]
    .filter((e) => e.count > 0)
    .map((e) => ({
      method: e.method, route: e.route, count: e.count, errors: e.errors, aborted: e.aborted,
      errorRate: round((100 * e.errors) / e.count),
      p50: ms(e.h, 0.5), p95: ms(e.h, 0.95), p99: ms(e.h, 0.99),
      // Over the whole range chosen, so ranges compare (a short burst is not a high rate over 24 h).
      perSecond: rate(e.count / (range.ms / 1000)),
    }))
    .sort((a, b) => b.count - a.count)
}

export interface Series { endpoint: string; points: { t: number; count: number; perSecond: number; errors: number; p50: number; p95: number; p99: number }[] }

/** Per endpoint, per bucket of the range: throughput, errors and percentiles from merged histograms. */
export function timeseries(db: Db, service: string, range: TimeRange, options: ReadOptions = {}): Series[] {
  const series = new Map<string, Map<number, { count: number; errors: number; h: LatencyHistogram }>>()
  for (const r of endpointRows(db, service, range, options, range.bucketMs)) {
    const key = `${r.method} ${r.route}`
    let buckets = series.get(key)
    if (!buckets) series.set(key, (buckets = new Map()))
    const t = Math.floor(r.t / range.bucketMs) * range.bucketMs
    let b = buckets.get(t)
    if (!b) buckets.set(t, (b = { count: 0, errors: 0, h: new LatencyHistogram() }))
    b.count += r.count
    b.errors += r.errors
    mergeStored(b.h, r.hist, r.unit)
  }
  return [...series.entries()].map(([endpoint, buckets]) => ({
    endpoint,
    points: [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([t, b]) => ({
      t, count: b.count, perSecond: rate(b.count / (range.bucketMs / 1000)), errors: b.errors, p50: ms(b.h, 0.5), p95: ms(b.h, 0.95), p99: ms(b.h, 0.99),
    })),
  }))
}

/** A process that has not reported for this long is taken as stopped: three of its intervals, and at least 5 s. */
export const stoppedAfterMs = (intervalMs: number | null) => Math.max(5_000, 3 * (intervalMs ?? 60_000))

export interface ProcessRow {
  instance_id: string; service: string; host: string; pid: number; ppid: number; role: string; parent_instance_id: string | null
  framework: string | null; first_seen: number; last_seen: number; interval_ms: number | null; requests: number; stopped: boolean; stoppedAt: number | null
}

/** Processes that reported within the range; one silent for longer than `stoppedAfterMs` is marked stopped, at its last report. */
export function processes(db: Db, service: string, range: TimeRange, options: ReadOptions = {}): ProcessRow[] {
  const rows = db.prepare(`SELECT p.instance_id, p.service, p.host, p.pid, p.ppid, p.role, p.parent_instance_id, p.framework, p.first_seen, p.last_seen, p.interval_ms, p.has_metrics
    FROM processes p WHERE service = @service AND last_seen > @from ORDER BY first_seen`).all({ service, from: range.from }) as (Omit<ProcessRow, 'stopped' | 'stoppedAt' | 'requests'> & { has_metrics: number })[]
  // Each process's requests in the range: hours and 5 minutes from the rollups, the edges from the points.
  const requests = new Map<string, number>()
  const add = (instance: string, source: string, n: number) => requests.set(`${instance} ${source}`, (requests.get(`${instance} ${source}`) ?? 0) + n)
  const parse = keyParser<[string, string]>()
  for (const seg of segmentsOf('requests', range.from, range.to, options)) {
    if (seg.size) {
      for (const r of readRollups(db, 'requests', service, seg)) {
        const [instance, source] = parse(r.key)
        add(instance, source, r.n1)
      }
    } else {
      const sums = db.prepare('SELECT instance_id, source, SUM(count) AS n FROM endpoint_points WHERE service = ? AND end_ms >= ? AND end_ms < ? GROUP BY instance_id, source').all(service, seg.lo, seg.hi) as { instance_id: string; source: string; n: number }[]
      for (const r of sums) add(r.instance_id, r.source, r.n)
    }
  }
  // A process that never said its interval (one report so far) is taken to share its service's.
  const known = rows.map((p) => p.interval_ms ?? 0).filter((n) => n > 0)
  const serviceInterval = known.length ? Math.max(...known) : null
  return rows.map(({ has_metrics, ...p }) => {
    const stopped = range.to - p.last_seen > stoppedAfterMs(p.interval_ms ?? serviceInterval)
    const count = (requests.get(`${p.instance_id} metrics`) ?? 0) + (has_metrics ? 0 : (requests.get(`${p.instance_id} spans`) ?? 0))
    return { ...p, requests: count, stopped, stoppedAt: stopped ? p.last_seen : null }
  })
}

export interface RuntimeSeries { instance_id: string; name: string; points: { t: number; value: number }[] }

/** Runtime gauges of the service's processes, each averaged per bucket of the range. */
export function runtime(db: Db, service: string, range: TimeRange, options: ReadOptions = {}): RuntimeSeries[] {
  const bucket = range.bucketMs
  // Per series (process and gauge), per bucket: the sum of values and how many (SQL adds them up, from rollups and points alike).
  const series = new Map<string, { instance_id: string; name: string; buckets: Map<number, { sum: number; n: number }> }>()
  const add = (instance_id: string, name: string, t: number, sum: number, n: number) => {
    const key = `${instance_id}\u0000${name}`
    let s = series.get(key)
    if (!s) series.set(key, (s = { instance_id, name, buckets: new Map() }))
    const b = s.buckets.get(t)
    if (b) (b.sum += sum), (b.n += n)
    else s.buckets.set(t, { sum, n })
  }
  const parse = keyParser<[string, string]>()
  // CAST: a bound number may come as a double, and then '/' does not truncate.
  const fromRollups = db.prepare(`SELECT key, (t / CAST(@bucket AS INTEGER)) * @bucket AS t, SUM(n1) AS sum, SUM(n2) AS n FROM rollups
    WHERE family = 'runtime' AND service = @service AND size_ms = @size AND t >= @lo AND t < @hi GROUP BY key, 2`)
  const fromPoints = db.prepare(`SELECT r.instance_id, r.name, (r.time_ms / CAST(@bucket AS INTEGER)) * @bucket AS t, SUM(r.value) AS sum, COUNT(*) AS n
    FROM runtime_points r JOIN processes p ON p.instance_id = r.instance_id
    WHERE p.service = @service AND r.time_ms >= @lo AND r.time_ms < @hi
    GROUP BY r.instance_id, r.name, t`)
  for (const seg of segmentsOf('runtime', range.from, range.to, options, bucket)) {
    if (seg.size) {
      for (const r of fromRollups.all({ service, size: seg.size, lo: seg.lo, hi: seg.hi, bucket }) as { key: string; t: number; sum: number; n: number }[]) {
        const [instance, name] = parse(r.key)
        add(instance, name, r.t, r.sum, r.n)
      }
    } else {
      for (const r of fromPoints.all({ service, lo: seg.lo, hi: seg.hi, bucket }) as { instance_id: string; name: string; t: number; sum: number; n: number }[]) add(r.instance_id, r.name, r.t, r.sum, r.n)
    }
  }
  return [...series.values()].sort((a, b) => (a.instance_id === b.instance_id ? (a.name < b.name ? -1 : 1) : a.instance_id < b.instance_id ? -1 : 1)).map((s) => ({
    instance_id: s.instance_id, name: s.name,
    points: [...s.buckets.entries()].sort((a, b) => a[0] - b[0]).map(([t, b]) => ({ t, value: b.sum / b.n })),
  }))
}

// ---- Where the time goes (issue #15), jobs and queues (issue #17) ----

interface JobTotal { queue: string; job: string; system: string; count: number; outcomes: Record<string, number>; duration: LatencyHistogram; wait: LatencyHistogram }

/** Per `queue/jobName`: jobs by outcome, their duration and their wait, over the range. */
function jobTotals(db: Db, service: string, range: TimeRange, options: ReadOptions): Map<string, JobTotal> {
  const jobs = new Map<string, JobTotal>()
  const parse = keyParser<[string, string, string, 'duration' | 'wait', string]>()
  for (const r of readFamily(db, 'job', service, range.from, range.to, options)) {
    const [queue, job, system, metric, outcome] = parse(r.key)
    const name = jobName(queue, job)
    let j = jobs.get(name)
    if (!j) jobs.set(name, (j = { queue, job, system, count: 0, outcomes: {}, duration: new LatencyHistogram(), wait: new LatencyHistogram() }))
    if (system) j.system = system
    if (metric === 'duration') {
      j.count += r.n1
      j.outcomes[outcome] = (j.outcomes[outcome] ?? 0) + r.n1
      mergeRow(j.duration, r.hist)
    } else {
      mergeRow(j.wait, r.hist)
    }
  }
  return jobs
}

export interface JobSummary {
  name: string; queue: string; job: string; system: string; count: number; perSecond: number
  completed: number; failed: number; retried: number; stalled: number; failureRate: number
  p50: number; p95: number; p99: number; waitCount: number; waitMean: number; waitP95: number
}

/** The jobs table: per `queue/jobName`, throughput, outcomes, latency percentiles and time waited in the queue (ms). */
export function jobs(db: Db, service: string, range: TimeRange, options: ReadOptions = {}): JobSummary[] {
  return [...jobTotals(db, service, range, options).entries()]
    .map(([name, j]) => ({
      name, queue: j.queue, job: j.job, system: j.system, count: j.count, perSecond: rate(j.count / (range.ms / 1000)),
      completed: j.outcomes.completed ?? 0, failed: j.outcomes.failed ?? 0, retried: j.outcomes.retried ?? 0, stalled: j.outcomes.stalled ?? 0,
      failureRate: j.count ? round((100 * (j.outcomes.failed ?? 0)) / j.count) : 0,
      p50: ms(j.duration, 0.5), p95: ms(j.duration, 0.95), p99: ms(j.duration, 0.99),
      waitCount: j.wait.count, waitMean: j.wait.count ? round((1000 * j.wait.sum) / j.wait.count) : 0, waitP95: ms(j.wait, 0.95),
    }))
    .filter((j) => j.count > 0 || j.waitCount > 0)
    .sort((a, b) => b.count - a.count)
}

export interface QueueHealth { queue: string; time: number; states: Record<string, number> }

/** Queue health: per queue, the latest count of jobs in each state (agent.queue.jobs) reported within the range. */
export function queues(db: Db, service: string, range: TimeRange): QueueHealth[] {
  const keys = db.prepare('SELECT queue, state FROM queues WHERE service = ? ORDER BY queue, state').all(service) as { queue: string; state: string }[]
  const latest = db.prepare('SELECT time_ms, value FROM queue_points WHERE service = ? AND queue = ? AND state = ? AND time_ms > ? AND time_ms <= ? ORDER BY time_ms DESC, rowid DESC LIMIT 1')
  const out = new Map<string, QueueHealth>()
  for (const k of keys) {
    const row = latest.get(service, k.queue, k.state, range.from, range.to) as { time_ms: number; value: number } | undefined
    if (!row) continue
    let q = out.get(k.queue)
    if (!q) out.set(k.queue, (q = { queue: k.queue, time: row.time_ms, states: {} }))
    q.states[k.state] = row.value
    q.time = Math.max(q.time, row.time_ms)
  }
  return [...out.values()]
}

export interface LayerShare { layer: string; seconds: number; calls: number; meanMs: number; callsPerRequest: number; share: number }
export interface LayerBreakdown { kind: 'http' | 'job'; endpoint: string; count: number; totalSeconds: number; meanMs: number; layers: LayerShare[] }

/**
 * Where each endpoint's and job's time goes: per layer (agent.layer.duration, agent.layer.calls),
 * and the app's own time, the rest of the requests' total duration (the sum of
 * http.server.request.duration or agent.job.duration) once the layers are taken out. Means are
 * per request (or job), shares of the total. Empty when the service sends no layer metrics.
 */
export function layerBreakdown(db: Db, service: string, range: TimeRange, options: ReadOptions = {}): LayerBreakdown[] {
  const layers = new Map<string, Map<string, { seconds: number; calls: number }>>()
  const parse = keyParser<[string, string, string]>()
  for (const r of readFamily(db, 'layer', service, range.from, range.to, options)) {
    const [kind, endpoint, layer] = parse(r.key)
    const id = `${kind} ${endpoint}`
    let m = layers.get(id)
    if (!m) layers.set(id, (m = new Map()))
    const l = m.get(layer) ?? { seconds: 0, calls: 0 }
    l.seconds += r.n1
    l.calls += r.n2
    m.set(layer, l)
  }
  if (!layers.size) return []
  const totals: { kind: 'http' | 'job'; endpoint: string; count: number; seconds: number }[] = []
  for (const [endpoint, e] of endpointTotals(db, service, range, options)) if (e.count > 0) totals.push({ kind: 'http', endpoint, count: e.count, seconds: e.h.sum })
  for (const [endpoint, j] of jobTotals(db, service, range, options)) if (j.count > 0) totals.push({ kind: 'job', endpoint, count: j.count, seconds: j.duration.sum })
  return totals
    .map((t) => {
      const measured = [...(layers.get(`${t.kind} ${t.endpoint}`) ?? new Map<string, { seconds: number; calls: number }>()).entries()].sort(([a], [b]) => (a < b ? -1 : 1))
      const inLayers = measured.reduce((n, [, l]) => n + l.seconds, 0)
      // Overlaps are split by the agent, so the layers never exceed the total; a float's rounding could.
      const all: [string, { seconds: number; calls: number }][] = [['app', { seconds: Math.max(0, t.seconds - inLayers), calls: 0 }], ...measured]
      const denominator = Math.max(t.seconds, inLayers)
      return {
        kind: t.kind, endpoint: t.endpoint, count: t.count, totalSeconds: t.seconds, meanMs: round((1000 * t.seconds) / t.count),
        layers: all.map(([layer, l]) => ({
          layer, seconds: l.seconds, calls: l.calls, meanMs: round((1000 * l.seconds) / t.count), callsPerRequest: round(l.calls / t.count),
          share: denominator > 0 ? round((100 * l.seconds) / denominator) : 0,
        })),
      }
    })
    .sort((a, b) => b.totalSeconds - a.totalSeconds)
}

export interface NPlusOne { kind: 'http' | 'job'; endpoint: string; layer: string; statement: string; requests: number; endpointRequests: number; share: number; example: { trace_id: string; span_id: string } | null }

/** N+1 patterns: per endpoint (or job) and statement shape, the requests that ran it at least the agent's threshold times, with the latest example trace. */
export function nPlusOne(db: Db, service: string, range: TimeRange, options: ReadOptions = {}): NPlusOne[] {
  const found = new Map<string, { kind: 'http' | 'job'; endpoint: string; layer: string; statement: string; requests: number }>()
  const parse = keyParser<['http' | 'job', string, string, string]>()
  for (const r of readFamily(db, 'nplusone', service, range.from, range.to, options)) {
    const [kind, endpoint, layer, statement] = parse(r.key)
    const f = found.get(r.key) ?? { kind, endpoint, layer, statement, requests: 0 }
    f.requests += r.n1
    found.set(r.key, f)
  }
  if (!found.size) return []
  const counts = new Map<string, number>()
  for (const [endpoint, e] of endpointTotals(db, service, range, options)) counts.set(`http ${endpoint}`, e.count)
  for (const [endpoint, j] of jobTotals(db, service, range, options)) counts.set(`job ${endpoint}`, j.count)
  // Example traces: the latest root the agent sent for an N+1, per endpoint.
  const examples = new Map<string, { trace_id: string; span_id: string }>()
  const roots = db.prepare(`SELECT trace_id, span_id, kind, attributes FROM spans WHERE service = ? AND slow = 1 AND start_ms > ? AND start_ms <= ?
    AND attributes LIKE '%"agent.trace.reason":"n_plus_one"%' ORDER BY start_ms DESC LIMIT 1000`).all(service, range.from, range.to) as { trace_id: string; span_id: string; kind: number; attributes: string }[]
  for (const r of roots) {
    const id = workOfRoot(r.kind, JSON.parse(r.attributes))
    if (!examples.has(id)) examples.set(id, { trace_id: r.trace_id, span_id: r.span_id })
  }
  return [...found.values()]
    .map((f) => {
      const endpointRequests = counts.get(`${f.kind} ${f.endpoint}`) ?? 0
      return { ...f, endpointRequests, share: endpointRequests ? round((100 * f.requests) / endpointRequests) : 0, example: examples.get(`${f.kind} ${f.endpoint}`) ?? null }
    })
    .sort((a, b) => b.requests - a.requests)
}

type Attributes = Record<string, string | number | boolean>

/** `http GET /route` or `job queue/name` for a trace's root span. */
function workOfRoot(kind: number | null, a: Attributes): string {
  if (kind === SPAN_KIND_CONSUMER || a['agent.job.name'] !== undefined) return `job ${jobName(String(a['messaging.destination.name'] ?? ''), String(a['agent.job.name'] ?? ''))}`
  return `http ${String(a['http.request.method'] ?? '')} ${String(a['http.route'] ?? NO_ROUTE)}`
}

const SPAN_KIND_CLIENT = 3
const SPAN_KIND_CONSUMER = 5

interface SpanRow { trace_id: string; span_id: string; parent_span_id: string | null; instance_id: string | null; service: string; name: string; start_ms: number; end_ms: number; status_code: number; attributes: string; kind: number | null; slow: number; trace_state: string | null }

/** The layer a span's time counts in: the agent's `agent.layer`, else the database system, else `http` for an outgoing HTTP call. */
function layerOf(kind: number | null, a: Attributes): string | null {
  if (a['agent.layer'] !== undefined) return String(a['agent.layer'])
  if (a['db.system.name'] !== undefined || a['db.system'] !== undefined) return String(a['db.system.name'] ?? a['db.system'])
  if (kind === SPAN_KIND_CLIENT && (a['url.full'] !== undefined || a['http.request.method'] !== undefined)) return 'http'
  return null
}

export interface TraceView {
  trace_id: string; span_id: string; parent_span_id: string | null; trace_state: string | null; service: string; name: string; kind: number | null
  reason: string; start_ms: number; durationMs: number; status_code: number; attributes: Attributes
  /** The caller's span that this trace continues (W3C traceparent), with the trace it belongs to, when this collector holds it. */
  caller: { service: string; span_id: string; name: string; root: { span_id: string; name: string } | null } | null
  spans: {
    span_id: string; parent_span_id: string | null; name: string; kind: number | null; layer: string | null; detail: string | null; offsetMs: number; durationMs: number
    status_code: number; error: string | null; attributes: Attributes
    /** The trace this client call started in another service of this collector. */
    callee: { service: string; span_id: string; name: string } | null
  }[]
}

/** A listed root span (a request or a job) with the spans under it, and links to the traces around it in this collector. */
function traceView(db: Db, root: SpanRow): TraceView {
  const all = db.prepare('SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ms LIMIT 5000').all(root.trace_id) as SpanRow[]
  const byId = new Map(all.map((s) => [s.span_id, s]))
  const children = new Map<string, SpanRow[]>()
  for (const s of all) if (s.parent_span_id) children.set(s.parent_span_id, [...(children.get(s.parent_span_id) ?? []), s])
  // The spans under the root: the caller's spans share the trace id but not this subtree.
  const under: SpanRow[] = []
  const stack = [...(children.get(root.span_id) ?? [])]
  while (stack.length && under.length < 500) {
    const s = stack.pop()!
    under.push(s)
    // A server span below one of ours is another service's trace: linked, not drawn here.
    if (s.kind !== 2 && s.kind !== SPAN_KIND_CONSUMER) stack.push(...(children.get(s.span_id) ?? []))
  }
  const listedRootOf = (s: SpanRow | undefined): SpanRow | null => {
    for (let cur = s, hops = 0; cur && hops < 100; cur = cur.parent_span_id ? byId.get(cur.parent_span_id) : undefined, hops++) if (cur.kind === 2 || cur.kind === SPAN_KIND_CONSUMER) return cur
    return null
  }
  const callerSpan = root.parent_span_id ? byId.get(root.parent_span_id) : undefined
  const callerRoot = listedRootOf(callerSpan)
  const attributes = JSON.parse(root.attributes) as Attributes
  return {
    trace_id: root.trace_id, span_id: root.span_id, parent_span_id: root.parent_span_id, trace_state: root.trace_state, service: root.service, name: root.name, kind: root.kind,
    reason: String(attributes['agent.trace.reason'] ?? 'slow'), start_ms: root.start_ms, durationMs: round(root.end_ms - root.start_ms), status_code: root.status_code, attributes,
    caller: callerSpan ? { service: callerSpan.service, span_id: callerSpan.span_id, name: callerSpan.name, root: callerRoot ? { span_id: callerRoot.span_id, name: callerRoot.name } : null } : null,
    spans: under.filter((s) => s.kind !== 2 && s.kind !== SPAN_KIND_CONSUMER).sort((a, b) => a.start_ms - b.start_ms).map((s) => {
      const a = JSON.parse(s.attributes) as Attributes
      const callee = (children.get(s.span_id) ?? []).find((c) => c.kind === 2 || c.kind === SPAN_KIND_CONSUMER)
      return {
        span_id: s.span_id, parent_span_id: s.parent_span_id, name: s.name, kind: s.kind, layer: layerOf(s.kind, a),
        detail: a['db.query.text'] !== undefined ? String(a['db.query.text']) : a['url.full'] !== undefined ? `${a['http.request.method'] ?? ''} ${a['url.full']}`.trim() : null,
        offsetMs: round(s.start_ms - root.start_ms), durationMs: round(s.end_ms - s.start_ms), status_code: s.status_code,
        error: a['error.type'] !== undefined ? String(a['error.type']) : null, attributes: a,
        callee: callee ? { service: callee.service, span_id: callee.span_id, name: callee.name } : null,
      }
    }),
  }
}

/** Slow traces and N+1 examples of the service in the range, slowest first; `reason` (slow, n_plus_one) keeps one kind. */
export function slowTraces(db: Db, service: string, range: TimeRange, limit = 50, reason?: string): TraceView[] {
  // The slowest are found in the index alone (service, slow, start, end); only they are read whole.
  const roots = reason
    ? db.prepare(`SELECT * FROM spans WHERE service = ? AND slow = 1 AND start_ms > ? AND start_ms <= ? AND COALESCE(json_extract(attributes, '$."agent.trace.reason"'), 'slow') = ?
        ORDER BY (end_ms - start_ms) DESC LIMIT ?`).all(service, range.from, range.to, reason, limit)
    : db.prepare(`SELECT * FROM spans WHERE rowid IN (SELECT rowid FROM spans INDEXED BY spans_roots WHERE service = ? AND slow = 1 AND start_ms > ? AND start_ms <= ? ORDER BY (end_ms - start_ms) DESC LIMIT ?)
        ORDER BY (end_ms - start_ms) DESC`).all(service, range.from, range.to, limit)
  return (roots as SpanRow[]).map((r) => traceView(db, r))
}

/** One listed trace by its root span, whatever its service and time (the caller's and callee's links). */
export function trace(db: Db, traceId: string, spanId: string): TraceView | undefined {
  const root = db.prepare('SELECT * FROM spans WHERE trace_id = ? AND span_id = ?').get(traceId, spanId) as SpanRow | undefined
  return root ? traceView(db, root) : undefined
}

/** Error groups seen within the range (their count is over all time: groups are stored whole). */
export function errorGroups(db: Db, service: string, range: TimeRange) {
  return db.prepare('SELECT * FROM errors WHERE service = ? AND last_seen > ? ORDER BY count DESC, last_seen DESC LIMIT 100').all(service, range.from)
}

export function counters(db: Db, service: string, range: TimeRange): Record<string, number> {
  const rows = db.prepare('SELECT name, SUM(value) AS value FROM counter_points WHERE service = ? AND time_ms > ? AND time_ms <= ? GROUP BY name').all(service, range.from, range.to) as { name: string; value: number }[]
  return Object.fromEntries(rows.map((r) => [r.name, r.value]))
}
