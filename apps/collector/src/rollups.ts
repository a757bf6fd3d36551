// Per-service rollups at three sizes (an hour, five minutes, a minute), kept up to date at ingest,
// in the same transaction as the points they hold: a rollup row always equals the sum of its
// points, so a query reads whole buckets from the coarsest rollup that fits and only the ragged
// edges of its range from the points. Histograms merge exactly (bucket-wise addition).
//
// Families (the `family` column; `key` is a JSON array):
//   endpoint  [method, route, source, instance (spans only)]  n1 count, n2 errors, n3 aborted, hist
//   requests  [instance, source]                              n1 count (the processes panel)
//   runtime   [instance, name]                                n1 sum of values, n2 values
//   layer     [kind, endpoint, layer]                         n1 seconds, n2 calls
//   nplusone  [kind, endpoint, layer, statement]              n1 requests
//   job       [queue, job, system, metric, outcome]           n1 count, hist
// The families without a points table of their own (layer, nplusone, job) keep their points in
// `points`, for the raw window only: beyond it the minute rollups are their finest grain.
import { LatencyHistogram, type HistogramData } from '@agent/core/internal'
import type { Db, Statement } from './sqlite.js'
import { mergeStored } from './stored-histogram.js'

export const MINUTE = 60_000
export const HOUR = 3_600_000
/** Rollup sizes, coarsest first; each divides the one before it. */
export const SIZES = [HOUR, 5 * MINUTE, MINUTE] as const

export type Family = 'endpoint' | 'requests' | 'runtime' | 'layer' | 'nplusone' | 'job'

/** The per-process families stop at five minutes: a minute of each process is what their points already are. */
export const SIZES_OF: Record<Family, readonly number[]> = {
  endpoint: SIZES, layer: SIZES, nplusone: SIZES, job: SIZES, requests: [HOUR, 5 * MINUTE], runtime: [HOUR, 5 * MINUTE],
}

/** A half-open stretch [lo, hi) of point end times (ms), read from the rollups of `size`, or from the points where size is 0. */
export interface Segment { size: number; lo: number; hi: number }

/**
 * Covers the range (from, to] of end times with the largest whole buckets of `sizes`, and the
 * ragged edges with points: (from, to] of integer ms is [from + 1, to + 1).
 */
export function cover(from: number, to: number, sizes: readonly number[] = SIZES): Segment[] {
  const out: Segment[] = []
  const go = (a: number, b: number, i: number): void => {
    if (a >= b) return
    if (i >= sizes.length) {
      out.push({ size: 0, lo: a, hi: b })
      return
    }
    const s = sizes[i]!
    const lo = Math.ceil(a / s) * s
    const hi = Math.floor(b / s) * s
    if (lo >= hi) return go(a, b, i + 1)
    go(a, lo, i + 1)
    out.push({ size: s, lo, hi })
    go(hi, b, i + 1)
  }
  go(Math.floor(from) + 1, Math.floor(to) + 1, 0)
  return out
}

/** The sizes of `family` whose buckets nest in a chart's buckets of `bucketMs` (a rollup row must not straddle two). */
export const sizesFor = (family: Family, bucketMs?: number) => SIZES_OF[family].filter((s) => bucketMs === undefined || bucketMs % s === 0)

/** How a query reads: from the rollups where they fit (the default), or from the points only (tests compare the two). */
export interface ReadOptions { rollups?: boolean }

/** Where to read `family` over (from, to]; with `bucketMs`, only rollups that nest in a chart's buckets. */
export const segmentsOf = (family: Family, from: number, to: number, options: ReadOptions = {}, bucketMs?: number): Segment[] =>
  cover(from, to, options.rollups === false ? [] : sizesFor(family, bucketMs))

export interface RollupRow { t: number; key: string; n1: number; n2: number; n3: number; hist: string | null }

export function readRollups(db: Db, family: Family, service: string, segment: Segment): RollupRow[] {
  return db.prepare('SELECT t, key, n1, n2, n3, hist FROM rollups WHERE family = ? AND service = ? AND size_ms = ? AND t >= ? AND t < ?')
    .all(family, service, segment.size, segment.lo, segment.hi) as RollupRow[]
}

/** Points of the families kept in `points`, ending in [lo, hi); `t` is the end time. */
export function readPoints(db: Db, family: Family, service: string, segment: Segment): RollupRow[] {
  return db.prepare('SELECT end_ms AS t, key, n1, n2, n3, hist FROM points WHERE family = ? AND service = ? AND end_ms >= ? AND end_ms < ?')
    .all(family, service, segment.lo, segment.hi) as RollupRow[]
}

/** Rows of a `points` family over a range: rollups where they fit, points at the edges. */
export function readFamily(db: Db, family: Family, service: string, from: number, to: number, options: ReadOptions = {}, bucketMs?: number): RollupRow[] {
  const rows: RollupRow[] = []
  for (const s of segmentsOf(family, from, to, options, bucketMs)) rows.push(...(s.size ? readRollups(db, family, service, s) : readPoints(db, family, service, s)))
  return rows
}

const statements = new WeakMap<Db, { get: Statement; upsert: Statement; point: Statement }>()

function prepared(db: Db) {
  let s = statements.get(db)
  if (!s) {
    statements.set(db, (s = {
      get: db.prepare('SELECT hist FROM rollups WHERE family = ? AND service = ? AND size_ms = ? AND t = ? AND key = ?'),
      upsert: db.prepare(`INSERT INTO rollups (family, service, size_ms, t, key, n1, n2, n3, hist) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (family, service, size_ms, t, key) DO UPDATE SET n1 = n1 + excluded.n1, n2 = n2 + excluded.n2, n3 = n3 + excluded.n3, hist = excluded.hist`),
      point: db.prepare('INSERT INTO points (family, instance_id, service, end_ms, key, n1, n2, n3, hist) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    }))
  }
  return s
}

export interface Addition { family: Family; service: string; key: string; endMs: number; n1: number; n2?: number; n3?: number; hist?: HistogramData | null }

/** Adds one point into the rollup of each size that holds its end time. */
export function addToRollups(db: Db, a: Addition): void {
  const s = prepared(db)
  const end = Math.round(a.endMs)
  for (const size of SIZES_OF[a.family]) {
    const t = Math.floor(end / size) * size
    let hist: string | null = null
    if (a.hist && a.hist.count > 0) {
      const stored = (s.get.get(a.family, a.service, size, t, a.key) as { hist: string | null } | undefined)?.hist
      hist = JSON.stringify(stored ? LatencyHistogram.from(JSON.parse(stored) as HistogramData).merge(a.hist).toJSON() : a.hist)
    } else if (a.hist !== undefined) {
      hist = (s.get.get(a.family, a.service, size, t, a.key) as { hist: string | null } | undefined)?.hist ?? null
    }
    s.upsert.run(a.family, a.service, size, t, a.key, a.n1, a.n2 ?? 0, a.n3 ?? 0, hist)
  }
}

/** Stores a point of a `points` family and adds it to the rollups. */
export function addPoint(db: Db, instance: string, a: Addition): void {
  const hist = a.hist && a.hist.count > 0 ? JSON.stringify(a.hist) : null
  prepared(db).point.run(a.family, instance, a.service, Math.round(a.endMs), a.key, a.n1, a.n2 ?? 0, a.n3 ?? 0, hist)
  addToRollups(db, a)
}

/** Histogram of a row, whatever its form (a rollup's or a point's). */
export function mergeRow(into: LatencyHistogram, hist: string | null): void {
  mergeStored(into, hist, 's')
}

/** Rebuilds the rollups of the families that have points tables of their own (endpoint, requests, runtime) from those points; run on a file written before rollups, and by the benchmark. */
export function rebuildRollups(db: Db): void {
  db.transaction(() => {
    db.exec("DELETE FROM rollups WHERE family IN ('endpoint', 'requests', 'runtime')")
    // Numbers only: SQL sums them at each size.
    for (const size of SIZES_OF.requests) {
      db.prepare(`INSERT INTO rollups (family, service, size_ms, t, key, n1, n2, n3, hist)
        SELECT 'requests', service, ${size}, (end_ms / ${size}) * ${size}, json_array(instance_id, source), SUM(count), 0, 0, NULL
        FROM endpoint_points GROUP BY service, end_ms / ${size}, instance_id, source`).run()
    }
    for (const size of SIZES_OF.runtime) {
      db.prepare(`INSERT INTO rollups (family, service, size_ms, t, key, n1, n2, n3, hist)
        SELECT 'runtime', p.service, ${size}, (r.time_ms / ${size}) * ${size}, json_array(r.instance_id, r.name), SUM(r.value), COUNT(*), 0, NULL
        FROM runtime_points r JOIN processes p ON p.instance_id = r.instance_id GROUP BY p.service, r.time_ms / ${size}, r.instance_id, r.name`).run()
    }
    // Histograms: merged here, an hour of points at a time, into the minute rollups; the coarser ones from those.
    const services = (db.prepare('SELECT DISTINCT service FROM endpoint_points').all() as { service: string }[]).map((r) => r.service)
    const insert = db.prepare(`INSERT INTO rollups (family, service, size_ms, t, key, n1, n2, n3, hist) VALUES ('endpoint', ?, ?, ?, ?, ?, ?, ?, ?)`)
    for (const service of services) {
      const span = db.prepare('SELECT MIN(end_ms) AS lo, MAX(end_ms) AS hi FROM endpoint_points WHERE service = ?').get(service) as { lo: number; hi: number }
      const read = db.prepare(`SELECT instance_id, method, route, source, end_ms, count, errors, aborted, hist, unit FROM endpoint_points WHERE service = ? AND end_ms >= ? AND end_ms < ?`)
      for (let hour = Math.floor(span.lo / HOUR) * HOUR; hour <= span.hi; hour += HOUR) {
        const buckets = new Map<string, { size: number; t: number; key: string; n: [number, number, number]; h: LatencyHistogram }>()
        for (const r of read.all(service, hour, hour + HOUR) as { instance_id: string; method: string; route: string; source: string; end_ms: number; count: number; errors: number; aborted: number; hist: string | null; unit: string }[]) {
          const key = JSON.stringify([r.method, r.route, r.source, r.source === 'spans' ? r.instance_id : ''])
          const h = new LatencyHistogram()
          mergeStored(h, r.hist, r.unit)
          for (const size of SIZES) {
            const t = Math.floor(r.end_ms / size) * size
            const id = `${size} ${t} ${key}`
            let b = buckets.get(id)
            if (!b) buckets.set(id, (b = { size, t, key, n: [0, 0, 0], h: new LatencyHistogram() }))
            b.n[0] += r.count
            b.n[1] += r.errors
            b.n[2] += r.aborted
            b.h.merge(h)
          }
        }
        for (const b of buckets.values()) insert.run(service, b.size, b.t, b.key, b.n[0], b.n[1], b.n[2], b.h.count ? JSON.stringify(b.h.toJSON()) : null)
      }
    }
  })()
}
