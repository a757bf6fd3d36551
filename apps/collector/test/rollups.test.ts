// Long ranges read whole hours, 5 minutes and minutes from the per-service rollups and only the
// edges from points: every dashboard answer equals the one read from the points alone. A week of
// reports of the agent's shapes goes to a real collector on loopback, then both answers are compared
// for every range, before and after a retention pass.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startCollector } from '../src/start-collector.ts'
import { Store } from '../src/store.ts'
import { applyRetention } from '../src/retention.ts'
import { HOUR, segmentsOf, type ReadOptions } from '../src/rollups.ts'
import { endpointSummary, jobs, layerBreakdown, nPlusOne, processes, runtime, timeseries } from '../src/queries.ts'
import { RANGES, timeRange, type RangeName, type TimeRange } from '../src/time-range.ts'
import type { Db } from '../src/sqlite.ts'
import { expHistogram, gauge, hex, histogramPoint, kv, metricsBody, post, resource, span, sum, sumPoint } from './otlp-payloads.ts'

const MINUTE = 60_000
const DAY = 24 * HOUR
const tmp = mkdtempSync(join(tmpdir(), 'rollups-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

/** A small deterministic generator: the same week every run. */
function random(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
}

/** Every query that reads rollups, as the dashboard asks it. */
const QUERIES: Record<string, (db: Db, range: TimeRange, options: ReadOptions) => unknown> = {
  summary: (db, r, o) => endpointSummary(db, 'fleet', r, o),
  timeseries: (db, r, o) => timeseries(db, 'fleet', r, o),
  processes: (db, r, o) => processes(db, 'fleet', r, o),
  runtime: (db, r, o) => runtime(db, 'fleet', r, o),
  layers: (db, r, o) => layerBreakdown(db, 'fleet', r, o),
  nPlusOne: (db, r, o) => nPlusOne(db, 'fleet', r, o),
  jobs: (db, r, o) => jobs(db, 'fleet', r, o),
}

/** Sums of floats added in another order differ in their last bits: compared to 9 significant digits. */
const settled = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isInteger(x) ? Number(x.toPrecision(9)) : x)))

test('every dashboard query over 15 min to 7 days: rollups give the answers the points give, histograms merged exactly, before and after retention', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmp, 'case-'))
  const c = await startCollector({ host: '127.0.0.1', port: 0, dbPath: join(dir, 'c.db'), retention: false })
  let closed = false
  t.after(() => (closed ? undefined : c.close()))
  const rnd = random(7)
  const now0 = Date.now()
  // A report every 3 minutes in the last hour, every 37 beyond it, back to 7 days less an hour; off the minute.
  const ends: number[] = []
  for (let end = now0 - 7_300; end > now0 - HOUR; end -= 3 * MINUTE) ends.push(end)
  for (let end = now0 - HOUR - 11_100; end > now0 - 7 * DAY + HOUR; end -= 37 * MINUTE) ends.push(end)
  const routes = [{ 'http.request.method': 'GET', 'http.route': '/a/:id' }, { 'http.request.method': 'POST', 'http.route': '/b' }]
  const job = { 'messaging.system': 'bullmq', 'messaging.destination.name': 'q', 'agent.job.name': 'work' }
  let spanId = 1
  for (const end of ends) {
    const start = end - MINUTE
    for (const instance of ['a', 'b']) {
      const metrics: unknown[] = []
      for (const route of routes) {
        const n = 1 + Math.floor(rnd() * 20)
        const durations = Array.from({ length: n }, () => 0.001 + rnd() * rnd() * 2)
        const total = durations.reduce((x, y) => x + y, 0)
        metrics.push(
          sum('http.server.request.count', '{request}', [sumPoint(n, route, start, end)]),
          sum('http.server.request.errors', '{request}', [sumPoint(Math.floor(rnd() * 2), route, start, end)]),
          expHistogram('http.server.request.duration', [histogramPoint(durations, route, start, end)]),
          sum('agent.layer.duration', 's', [sumPoint(total * 0.3 * rnd(), { ...route, 'agent.layer': 'postgresql' }, start, end), sumPoint(total * 0.2 * rnd(), { ...route, 'agent.layer': 'redis' }, start, end)]),
          sum('agent.layer.calls', '{call}', [sumPoint(n * 3, { ...route, 'agent.layer': 'postgresql' }, start, end), sumPoint(n, { ...route, 'agent.layer': 'redis' }, start, end)]),
          sum('agent.n_plus_one.requests', '{request}', [sumPoint(Math.floor(n / 3), { ...route, 'agent.layer': 'postgresql', 'db.query.text': 'SELECT * FROM t WHERE id = ?' }, start, end)]),
        )
      }
      const outcomes = ['completed', 'failed', 'retried', 'stalled'] as const
      metrics.push(
        expHistogram('agent.job.duration', outcomes.map((outcome) => histogramPoint(Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => rnd() * 5), { ...job, 'agent.job.outcome': outcome }, start, end))),
        expHistogram('agent.job.wait', [histogramPoint(Array.from({ length: 3 }, () => rnd() * 20), { 'messaging.destination.name': 'q', 'agent.job.name': 'work' }, start, end)]),
        gauge('nodejs.eventloop.utilization', '1', [{ value: Math.floor(rnd() * 100), attrs: {}, timeMs: end }]),
      )
      await post(c.url, '/v1/metrics', metricsBody(resource('fleet', instance), metrics))
    }
    // An OpenTelemetry SDK process that sends traces only: its server spans are its requests.
    const id = spanId++
    await post(c.url, '/v1/traces', JSON.stringify({ resourceSpans: [{ resource: { attributes: kv({ 'service.name': 'fleet', 'service.instance.id': 'otel' }) }, scopeSpans: [{ spans: [span({ traceId: hex(id, 32), spanId: hex(id, 16), name: 'GET /a/:id', kind: 2, startMs: end - 40, endMs: end, attrs: routes[0]! })] }] }] }))
  }
  const apiWeek = await (await fetch(`${c.url}/api/summary?service=fleet&range=7d`)).json() as { endpoints: unknown[] }
  await c.close()
  closed = true

  const store = new Store(join(dir, 'c.db'))
  t.after(() => store.close())
  const db = store.db
  const now = Date.now()
  const answers = (options: ReadOptions) => Object.fromEntries(Object.keys(RANGES).flatMap((name) => {
    const range = timeRange(name, now)!
    return Object.entries(QUERIES).map(([q, fn]) => [`${q} ${name}`, settled(fn(db, range, options))])
  }))
  // Whole hours are read from rollups on the long ranges (the comparison is not of points with points).
  assert.ok(segmentsOf('endpoint', now - 7 * DAY, now).some((s) => s.size === HOUR))
  assert.ok(segmentsOf('runtime', now - DAY, now, {}, RANGES['24h'].bucketMs).some((s) => s.size === 5 * MINUTE))
  const rolled = answers({})
  const points = answers({ rollups: false })
  for (const key of Object.keys(rolled)) assert.deepEqual(rolled[key], points[key], key)
  // Something to compare in every range.
  const week = rolled['summary 7d'] as { count: number }[]
  assert.ok((rolled['summary 15m'] as unknown[]).length === 2 && week.reduce((n, e) => n + e.count, 0) > 10_000, JSON.stringify(rolled['summary 15m']))
  for (const q of ['layers', 'nPlusOne', 'jobs']) assert.ok((rolled[`${q} 7d`] as unknown[]).length > 0, q)
  assert.equal((rolled['processes 7d'] as { requests: number }[]).length, 3)
  assert.deepEqual(settled(apiWeek.endpoints), rolled['summary 7d'], 'the API reads the same')

  // Retention: raw points past a day become per-minute rows (endpoints, runtime), the layer, N+1
  // and job points go; the dashboard's answers do not change, and still equal the points' where
  // points are kept.
  applyRetention(db, now, { rawMs: DAY, keepMs: 7 * DAY })
  const after = answers({})
  for (const key of Object.keys(rolled)) assert.deepEqual(after[key], rolled[key], `${key} after retention`)
  const pointsAfter = answers({ rollups: false })
  for (const key of Object.keys(rolled).filter((k) => /^(summary|timeseries|processes|runtime) /.test(k))) assert.deepEqual(after[key], pointsAfter[key], `${key} from points after retention`)
})
