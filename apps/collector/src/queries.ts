import { LatencyHistogram, HISTOGRAM_SCALE } from '@agent/core/internal'
import type Database from 'better-sqlite3'

interface StoredPoint { method: string; route: string; start_ms: number; end_ms: number; count: number; errors: number; aborted: number; hist: string | null }

/** Adds an OTLP exponential histogram data point (as stored) into `into`: exact, same scale. */
function mergeStored(into: LatencyHistogram, hist: string | null): void {
  if (!hist) return
  const p = JSON.parse(hist) as { count: string | number; sum?: number; scale?: number; zeroCount?: string | number; min?: number; max?: number; positive?: { offset?: number; bucketCounts?: (string | number)[] } }
  if ((p.scale ?? HISTOGRAM_SCALE) !== HISTOGRAM_SCALE) return
  into.merge({ count: Number(p.count), sum: p.sum ?? 0, min: p.min ?? Infinity, max: p.max ?? -Infinity, zeroCount: Number(p.zeroCount ?? 0), offset: p.positive?.offset ?? 0, counts: (p.positive?.bucketCounts ?? []).map(Number) })
}

const round = (n: number) => Math.round(n * 100) / 100

export function services(db: Database.Database): string[] {
  return (db.prepare('SELECT DISTINCT service FROM processes ORDER BY service').all() as { service: string }[]).map((r) => r.service)
}

export interface EndpointSummary { method: string; route: string; count: number; errors: number; aborted: number; errorRate: number; p50: number; p95: number; p99: number; perSecond: number }

export function endpointSummary(db: Database.Database, service: string): EndpointSummary[] {
  const rows = db.prepare('SELECT method, route, start_ms, end_ms, count, errors, aborted, hist FROM endpoint_points WHERE service = ?').all(service) as StoredPoint[]
  const byEndpoint = new Map<string, { method: string; route: string; count: number; errors: number; aborted: number; h: LatencyHistogram; from: number; to: number }>()
  for (const r of rows) {
    const key = `${r.method} ${r.route}`
    const e = byEndpoint.get(key) ?? { method: r.method, route: r.route, count: 0, errors: 0, aborted: 0, h: new LatencyHistogram(), from: r.start_ms, to: r.end_ms }
    byEndpoint.set(key, e)
    e.count += r.count
    e.errors += r.errors
    e.aborted += r.aborted
    e.from = Math.min(e.from, r.start_ms)
    e.to = Math.max(e.to, r.end_ms)
    mergeStored(e.h, r.hist)
  }
  return [...byEndpoint.values()]
    .filter((e) => e.count > 0)
    .map((e) => ({
      method: e.method, route: e.route, count: e.count, errors: e.errors, aborted: e.aborted,
      errorRate: e.count ? round((100 * e.errors) / e.count) : 0,
      p50: round(e.h.quantile(0.5)), p95: round(e.h.quantile(0.95)), p99: round(e.h.quantile(0.99)),
      perSecond: round(e.count / Math.max((e.to - e.from) / 1000, 1)),
    }))
    .sort((a, b) => b.count - a.count)
}

export interface Series { endpoint: string; points: { t: number; count: number; errors: number; p50: number; p95: number; p99: number }[] }

/** Per endpoint, per time bucket: throughput, errors and percentiles from merged histograms. */
export function timeseries(db: Database.Database, service: string, bucketMs: number): Series[] {
  const rows = db.prepare('SELECT method, route, start_ms, end_ms, count, errors, aborted, hist FROM endpoint_points WHERE service = ? ORDER BY end_ms').all(service) as StoredPoint[]
  const series = new Map<string, Map<number, { count: number; errors: number; h: LatencyHistogram }>>()
  for (const r of rows) {
    const key = `${r.method} ${r.route}`
    const buckets = series.get(key) ?? new Map()
    series.set(key, buckets)
    const t = Math.floor(r.end_ms / bucketMs) * bucketMs
    const b = buckets.get(t) ?? { count: 0, errors: 0, h: new LatencyHistogram() }
    buckets.set(t, b)
    b.count += r.count
    b.errors += r.errors
    mergeStored(b.h, r.hist)
  }
  return [...series.entries()].map(([endpoint, buckets]) => ({
    endpoint,
    points: [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([t, b]) => ({ t, count: b.count, errors: b.errors, p50: round(b.h.quantile(0.5)), p95: round(b.h.quantile(0.95)), p99: round(b.h.quantile(0.99)) })),
  }))
}

export function processes(db: Database.Database, service: string) {
  return db.prepare(`SELECT p.*, (SELECT COALESCE(SUM(count), 0) FROM endpoint_points e WHERE e.instance_id = p.instance_id) AS requests
    FROM processes p WHERE service = ? ORDER BY first_seen`).all(service)
}

export function slowTraces(db: Database.Database, service: string, limit = 50) {
  const roots = db.prepare(`SELECT * FROM spans WHERE service = ? AND parent_span_id IS NULL ORDER BY (end_ms - start_ms) DESC LIMIT ?`).all(service, limit) as { trace_id: string; start_ms: number; end_ms: number; attributes: string }[]
  const children = db.prepare('SELECT name, start_ms, end_ms, status_code, attributes FROM spans WHERE trace_id = ? AND parent_span_id IS NOT NULL ORDER BY start_ms')
  return roots.map((r) => ({ ...r, durationMs: round(r.end_ms - r.start_ms), attributes: JSON.parse(r.attributes), spans: (children.all(r.trace_id) as { start_ms: number; end_ms: number; attributes: string }[]).map((s) => ({ ...s, durationMs: round(s.end_ms - s.start_ms), offsetMs: round(s.start_ms - r.start_ms), attributes: JSON.parse(s.attributes) })) }))
}

export function errorGroups(db: Database.Database, service: string) {
  return db.prepare('SELECT * FROM errors WHERE service = ? ORDER BY count DESC, last_seen DESC LIMIT 100').all(service)
}

export function counters(db: Database.Database, service: string): Record<string, number> {
  const rows = db.prepare('SELECT name, value FROM counters WHERE service = ?').all(service) as { name: string; value: number }[]
  return Object.fromEntries(rows.map((r) => [r.name, r.value]))
}
