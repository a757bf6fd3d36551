// OpenTelemetry SDKs send cumulative points by default (totals since the start); the store keeps
// deltas. The last point of each series is kept in the database, so a restart of the collector
// does not count a process's history twice.
import type { Db } from './sqlite.js'
import type { ExplicitPoint, ExponentialPoint } from './histogram-convert.js'

export const CUMULATIVE = 2

type Point = Record<string, unknown>
const num = (v: unknown): number => (typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : 0)

function minus(a: unknown[] | undefined, b: unknown[] | undefined): number[] {
  return (a ?? []).map((n, i) => num(n) - num(b?.[i]))
}

/** Exponential buckets as index -> count at `scale` (a coarser scale merges buckets exactly). */
function bucketsAt(p: ExponentialPoint, scale: number): Map<number, number> {
  const shift = num(p.scale) - scale
  const offset = num(p.positive?.offset)
  const out = new Map<number, number>()
  ;(p.positive?.bucketCounts ?? []).forEach((n, i) => {
    const at = Math.floor((offset + i) / 2 ** shift)
    out.set(at, (out.get(at) ?? 0) + num(n))
  })
  return out
}

function exponentialDelta(cur: ExponentialPoint, prev: ExponentialPoint): ExponentialPoint {
  // An SDK only ever lowers a series' scale: compare both at the lower one.
  const scale = Math.min(num(cur.scale), num(prev.scale))
  const now = bucketsAt(cur, scale)
  const before = bucketsAt(prev, scale)
  const indices = [...now.keys()].sort((a, b) => a - b)
  const offset = indices[0] ?? 0
  const counts = indices.length ? new Array<number>(indices[indices.length - 1]! - offset + 1).fill(0) : []
  for (const i of indices) counts[i - offset] = now.get(i)! - (before.get(i) ?? 0)
  return { count: num(cur.count) - num(prev.count), sum: num(cur.sum) - num(prev.sum), scale, zeroCount: num(cur.zeroCount) - num(prev.zeroCount), positive: { offset, bucketCounts: counts } }
}

function explicitDelta(cur: ExplicitPoint, prev: ExplicitPoint): ExplicitPoint {
  return { count: num(cur.count) - num(prev.count), sum: num(cur.sum) - num(prev.sum), explicitBounds: cur.explicitBounds, bucketCounts: minus(cur.bucketCounts, prev.bucketCounts) }
}

export type PointKind = 'sum' | 'histogram' | 'exponentialHistogram'

/**
 * The delta since the previous point of `series`, with the time it starts at (ms), or the point
 * itself where there is no usable previous one (first point, a restart of the sender, a reset).
 * Min and max of a cumulative point cover all time, so a delta carries none.
 */
export function toDelta(db: Db, series: string, kind: PointKind, p: Point, startMs: number, endMs: number): { point: Point; startMs: number } {
  const startNs = String(p.startTimeUnixNano ?? '')
  const prevRow = db.prepare('SELECT start_ns, time_ms, point FROM cumulative_state WHERE series = ?').get(series) as { start_ns: string; time_ms: number; point: string } | undefined
  db.prepare('INSERT INTO cumulative_state VALUES (?, ?, ?, ?) ON CONFLICT(series) DO UPDATE SET start_ns = excluded.start_ns, time_ms = excluded.time_ms, point = excluded.point')
    .run(series, startNs, Math.round(endMs), JSON.stringify(p))
  const { min: _min, max: _max, ...withoutExtremes } = p
  if (!prevRow || prevRow.start_ns !== startNs || prevRow.time_ms >= endMs) return { point: kind === 'sum' ? p : withoutExtremes, startMs }
  const prev = JSON.parse(prevRow.point) as Point
  const value = (q: Point) => num(q.asInt ?? q.asDouble)
  if (kind === 'sum') {
    if (value(p) < value(prev)) return { point: p, startMs }
    return { point: { ...p, asInt: undefined, asDouble: value(p) - value(prev) }, startMs: prevRow.time_ms }
  }
  if (num(p.count) < num(prev.count)) return { point: withoutExtremes, startMs }
  const delta = kind === 'histogram' ? explicitDelta(p, prev) : exponentialDelta(p, prev)
  return { point: delta as Point, startMs: prevRow.time_ms }
}
