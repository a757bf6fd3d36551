// Retention: raw points within the window, one row per minute beyond it (counts summed,
// histograms merged), nothing beyond the retention.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Aggregator, encodeMetrics, newIdentity, resourceAttributes } from '@agent/core/internal'
import { ingestMetrics } from '../src/otlp-ingest.ts'
import { endpointSummary } from '../src/queries.ts'
import { applyRetention } from '../src/retention.ts'
import { Store } from '../src/store.ts'

const HOUR = 3_600_000
const identity = newIdentity()

const tmp = mkdtempSync(join(tmpdir(), 'retention-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

function report(store: Store, endMs: number, requests: number): void {
  const agg = new Aggregator(10)
  for (let i = 0; i < requests; i++) agg.record('GET', '/r', (10 + i) / 1000, false, false)
  const interval = { ...agg.drain(), startMs: endMs - 1000, endMs }
  const body = JSON.parse(encodeMetrics({ resource: resourceAttributes({ serviceName: 'ret', identity }), interval, runtime: undefined }))
  ingestMetrics(store.db, body)
}

test('raw points for the window, per-minute rollups beyond it, old data deleted; the figures stay the same', () => {
  const store = new Store(join(mkdtempSync(join(tmp, 'case-')), 'c.db'))
  const now = Date.UTC(2026, 0, 10, 12, 0, 30)
  const minuteAgo25h = Math.floor((now - 25 * HOUR) / 60_000) * 60_000
  report(store, minuteAgo25h + 10_000, 3)
  report(store, minuteAgo25h + 20_000, 4) // same minute: one rollup row with both
  report(store, now - 30 * HOUR, 5)
  report(store, now - HOUR, 6) // inside the raw window: untouched
  report(store, now - 8 * 24 * HOUR, 7) // beyond retention: deleted
  const week = { name: '7d' as const, from: now - 7 * 24 * HOUR, to: now, ms: 7 * 24 * HOUR, bucketMs: 2 * HOUR }
  const before = endpointSummary(store.db, 'ret', week)[0]!
  assert.equal(before.count, 18)

  applyRetention(store.db, now, { rawMs: 24 * HOUR, keepMs: 7 * 24 * HOUR })
  // Plain objects: node:sqlite (Node 24+) gives rows no prototype.
  const rows = (store.db.prepare('SELECT count, rollup FROM endpoint_points ORDER BY end_ms').all() as { count: number; rollup: number }[]).map((r) => ({ ...r }))
  assert.deepEqual(rows, [{ count: 5, rollup: 1 }, { count: 7, rollup: 1 }, { count: 6, rollup: 0 }])
  const after = endpointSummary(store.db, 'ret', week)[0]!
  assert.equal(after.count, 18)
  assert.deepEqual([after.p50, after.p95, after.p99], [before.p50, before.p95, before.p99], 'rollups merge histograms exactly')
  // A second pass changes nothing.
  applyRetention(store.db, now, { rawMs: 24 * HOUR, keepMs: 7 * 24 * HOUR })
  assert.equal((store.db.prepare('SELECT COUNT(*) AS n FROM endpoint_points').get() as { n: number }).n, 3)
  store.close()
})
