// What the dashboard and /api/* read, each within a time range. Latencies come out in ms.
import { LatencyHistogram } from '@agent/core/internal'
import type { Db } from './sqlite.js'
import { mergeStored } from './stored-histogram.js'
import type { TimeRange } from './time-range.js'
import { readRollups, segmentsOf, type ReadOptions } from './rollups.js'

interface StoredPoint { instance_id: string; method: string; route: string; end_ms: number; count: number; errors: number; aborted: number; hist: string | null; unit: string }
/** An endpoint's figures over one stretch of time: a stored point, or a rollup of many. */
interface EndpointRow { t: number; method: string; route: string; count: number; errors: number; aborted: number; hist: string | null; unit: string }

const round = (n: number) => Math.round(n * 100) / 100
/** Rates of a few requests over hours are small: four decimals keep them from showing as 0. */
const rate = (n: number) => Math.round(n * 10_000) / 10_000
const ms = (h: LatencyHistogram, q: number) => round(h.quantile(q) * 1000)

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
  for (const seg of segmentsOf('endpoint', range.from, range.to, options, bucketMs)) {
    if (seg.size) {
      for (const r of readRollups(db, 'endpoint', service, seg)) {
        const [method, route, source, instance] = JSON.parse(r.key) as [string, string, string, string]
        if (source === 'spans' && (senders ??= metricSenders(db)).has(instance)) continue
        rows.push({ t: r.t, method, route, count: r.n1, errors: r.n2, aborted: r.n3, hist: r.hist, unit: 's' })
      }
      continue
    }
    const points = db.prepare(`SELECT e.instance_id, method, route, end_ms, count, errors, aborted, hist, unit FROM endpoint_points e
      WHERE e.service = ? AND e.end_ms >= ? AND e.end_ms < ?
        AND (e.source = 'metrics' OR NOT EXISTS (SELECT 1 FROM processes p WHERE p.instance_id = e.instance_id AND p.has_metrics = 1))`).all(service, seg.lo, seg.hi) as StoredPoint[]
    for (const p of points) rows.push({ ...p, t: p.end_ms })
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
  for (const seg of segmentsOf('requests', range.from, range.to, options)) {
    if (seg.size) {
      for (const r of readRollups(db, 'requests', service, seg)) {
        const [instance, source] = JSON.parse(r.key) as [string, string]
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
  const sums = new Map<string, { instance_id: string; name: string; t: number; sum: number; n: number }>()
  const add = (instance_id: string, name: string, t: number, sum: number, n: number) => {
    const key = `${instance_id} ${name} ${t}`
    const s = sums.get(key)
    if (s) (s.sum += sum), (s.n += n)
    else sums.set(key, { instance_id, name, t, sum, n })
  }
  for (const seg of segmentsOf('runtime', range.from, range.to, options, bucket)) {
    if (seg.size) {
      for (const r of readRollups(db, 'runtime', service, seg)) {
        const [instance, name] = JSON.parse(r.key) as [string, string]
        add(instance, name, Math.floor(r.t / bucket) * bucket, r.n1, r.n2)
      }
    } else {
      const rows = db.prepare(`SELECT r.instance_id, r.name, (r.time_ms / @bucket) * @bucket AS t, SUM(r.value) AS sum, COUNT(*) AS n
        FROM runtime_points r JOIN processes p ON p.instance_id = r.instance_id
        WHERE p.service = @service AND r.time_ms >= @lo AND r.time_ms < @hi
        GROUP BY r.instance_id, r.name, t`).all({ service, lo: seg.lo, hi: seg.hi, bucket }) as { instance_id: string; name: string; t: number; sum: number; n: number }[]
      for (const r of rows) add(r.instance_id, r.name, r.t, r.sum, r.n)
    }
  }
  const out = new Map<string, RuntimeSeries>()
  for (const r of [...sums.values()].sort((a, b) => a.t - b.t)) {
    const key = `${r.instance_id} ${r.name}`
    let s = out.get(key)
    if (!s) out.set(key, (s = { instance_id: r.instance_id, name: r.name, points: [] }))
    s.points.push({ t: r.t, value: r.sum / r.n })
  }
  return [...out.values()]
}

export function slowTraces(db: Db, service: string, range: TimeRange, limit = 50) {
  const roots = db.prepare(`SELECT * FROM spans WHERE service = ? AND slow = 1 AND start_ms > ? AND start_ms <= ? ORDER BY (end_ms - start_ms) DESC LIMIT ?`)
    .all(service, range.from, range.to, limit) as { trace_id: string; span_id: string; start_ms: number; end_ms: number; attributes: string }[]
  // The spans inside the server span's time: not the caller's client span around it.
  const children = db.prepare('SELECT name, start_ms, end_ms, status_code, attributes FROM spans WHERE trace_id = ? AND span_id != ? AND start_ms >= ? ORDER BY start_ms LIMIT 200')
  return roots.map((r) => ({
    ...r, durationMs: round(r.end_ms - r.start_ms), attributes: JSON.parse(r.attributes),
    spans: (children.all(r.trace_id, r.span_id, r.start_ms) as { start_ms: number; end_ms: number; attributes: string }[]).map((s) => ({ ...s, durationMs: round(s.end_ms - s.start_ms), offsetMs: round(s.start_ms - r.start_ms), attributes: JSON.parse(s.attributes) })),
  }))
}

/** Error groups seen within the range (their count is over all time: groups are stored whole). */
export function errorGroups(db: Db, service: string, range: TimeRange) {
  return db.prepare('SELECT * FROM errors WHERE service = ? AND last_seen > ? ORDER BY count DESC, last_seen DESC LIMIT 100').all(service, range.from)
}

export function counters(db: Db, service: string, range: TimeRange): Record<string, number> {
  const rows = db.prepare('SELECT name, SUM(value) AS value FROM counter_points WHERE service = ? AND time_ms > ? AND time_ms <= ? GROUP BY name').all(service, range.from, range.to) as { name: string; value: number }[]
  return Object.fromEntries(rows.map((r) => [r.name, r.value]))
}
