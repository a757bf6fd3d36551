// Retention: raw points for a window, per-minute rollups beyond it, nothing beyond `keepMs`.
// The per-service rollups (rollups.ts) are kept as long as anything, and go with their points.
import type { Db } from './sqlite.js'
import { LatencyHistogram } from '@agent/core/internal'
import { mergeStored } from './stored-histogram.js'
import { HOUR, SIZES } from './rollups.js'

export interface RetentionOptions {
  /** Raw points are kept this long (ms), then merged into one row per minute. */
  rawMs: number
  /** Everything older than this (ms) is deleted. */
  keepMs: number
}

const MINUTE = 60_000
/** Spans of traces without a slow root wait this long for their root (it ends last and may come in a later batch). */
const ROOT_GRACE_MS = 2 * MINUTE
const PAYLOAD_ID_KEEP_MS = 60 * MINUTE

interface RawPoint { instance_id: string; service: string; method: string; route: string; source: string; start_ms: number; end_ms: number; count: number; errors: number; aborted: number; hist: string | null; unit: string }

export function applyRetention(db: Db, now: number, options: RetentionOptions): { rolledUp: number; deleted: number } {
  let deleted = 0
  let rolledUp = 0
  db.transaction(() => {
    const oldest = now - options.keepMs
    for (const sql of [
      'DELETE FROM endpoint_points WHERE end_ms < ?', 'DELETE FROM runtime_points WHERE time_ms < ?', 'DELETE FROM spans WHERE end_ms < ?',
      'DELETE FROM errors WHERE last_seen < ?', 'DELETE FROM processes WHERE last_seen < ?', 'DELETE FROM cumulative_state WHERE time_ms < ?', 'DELETE FROM counter_points WHERE time_ms < ?',
    ]) deleted += db.prepare(sql).run(oldest).changes
    deleted += db.prepare('DELETE FROM spans WHERE end_ms < ? AND slow = 0 AND trace_id NOT IN (SELECT trace_id FROM spans WHERE slow = 1)').run(now - ROOT_GRACE_MS).changes
    // An agent retries a payload for 10 minutes at most: an hour of ids tells every retry apart.
    deleted += db.prepare('DELETE FROM payload_ids WHERE received_ms < ?').run(now - PAYLOAD_ID_KEEP_MS).changes
    deleted += db.prepare('DELETE FROM handovers WHERE instance_id NOT IN (SELECT instance_id FROM processes)').run().changes
    // A rollup goes once every point it holds is past retention (a bucket ends before `oldest`).
    for (const size of SIZES) deleted += db.prepare('DELETE FROM rollups WHERE size_ms = ? AND t <= ?').run(size, oldest - size).changes

    // Whole minutes only, so a minute is rolled up once.
    const cutoff = Math.floor((now - options.rawMs) / MINUTE) * MINUTE
    const raw = db.prepare('SELECT instance_id, service, method, route, source, start_ms, end_ms, count, errors, aborted, hist, unit FROM endpoint_points WHERE rollup = 0 AND end_ms < ?').all(cutoff) as RawPoint[]
    const minutes = new Map<string, RawPoint & { h: LatencyHistogram }>()
    for (const r of raw) {
      const key = JSON.stringify([r.instance_id, r.method, r.route, r.source, Math.floor(r.end_ms / MINUTE)])
      let m = minutes.get(key)
      if (!m) minutes.set(key, (m = { ...r, count: 0, errors: 0, aborted: 0, h: new LatencyHistogram() }))
      m.start_ms = Math.min(m.start_ms, r.start_ms)
      m.end_ms = Math.max(m.end_ms, r.end_ms)
      m.count += r.count
      m.errors += r.errors
      m.aborted += r.aborted
      mergeStored(m.h, r.hist, r.unit)
    }
    db.prepare('DELETE FROM endpoint_points WHERE rollup = 0 AND end_ms < ?').run(cutoff)
    const insert = db.prepare(`INSERT INTO endpoint_points (instance_id, service, method, route, start_ms, end_ms, count, errors, aborted, hist, unit, source, rollup)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 's', ?, 1)`)
    for (const m of minutes.values()) insert.run(m.instance_id, m.service, m.method, m.route, m.start_ms, m.end_ms, m.count, m.errors, m.aborted, m.h.count ? JSON.stringify(m.h.toJSON()) : null, m.source)
    rolledUp += raw.length

    // Layer, N+1 and job points: past the raw window their minute rollups (per service) are what is kept.
    deleted += db.prepare('DELETE FROM points WHERE end_ms < ?').run(cutoff).changes
    // Queue gauges: past the raw window, each queue's last count of each hour (the latest stays the latest).
    deleted += db.prepare('DELETE FROM queue_points WHERE time_ms < ?').run(oldest).changes
    deleted += db.prepare(`DELETE FROM queue_points WHERE time_ms < @cutoff AND rowid NOT IN (
      SELECT rowid FROM (SELECT rowid, ROW_NUMBER() OVER (PARTITION BY service, queue, state, time_ms / ${HOUR} ORDER BY time_ms DESC, rowid DESC) AS n
        FROM queue_points WHERE time_ms < @cutoff) WHERE n = 1)`).run({ cutoff }).changes
    deleted += db.prepare('DELETE FROM queues WHERE NOT EXISTS (SELECT 1 FROM queue_points q WHERE q.service = queues.service AND q.queue = queues.queue AND q.state = queues.state)').run().changes

    // Gauges: the minute's mean, at the minute's middle.
    rolledUp += db.prepare(`INSERT INTO runtime_points (instance_id, time_ms, name, value, rollup)
      SELECT instance_id, (time_ms / ${MINUTE}) * ${MINUTE} + ${MINUTE / 2}, name, AVG(value), 1 FROM runtime_points WHERE rollup = 0 AND time_ms < ?
      GROUP BY instance_id, name, time_ms / ${MINUTE}`).run(cutoff).changes
    db.prepare('DELETE FROM runtime_points WHERE rollup = 0 AND time_ms < ?').run(cutoff)
  })()
  return { rolledUp, deleted }
}
