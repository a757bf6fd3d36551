#!/usr/bin/env node
// How long the collector's dashboard queries take with a fleet's worth of data: PROCESSES
// processes, ENDPOINTS endpoints each, one report a minute for DAYS days, laid out as ingest and
// retention leave them: endpoint and runtime points (per minute beyond the raw day), layer, N+1
// and job points for the raw day, the per-service rollups for all of it, queue counts, and slow
// traces. Rows are written straight into the store in the stored layout, then each API query per
// range is timed.
//   node --import tsx bench/collector-queries.mjs [--processes 50 --endpoints 5 --days 7 --points]
// --points also times the summary and time series read from points alone (as before rollups).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { Store } from '../apps/collector/src/store.ts'
import { endpointSummary, jobs, layerBreakdown, nPlusOne, processes, queues, runtime, slowTraces, timeseries } from '../apps/collector/src/queries.ts'
import { timeRange } from '../apps/collector/src/time-range.ts'
import { SIZES_OF, rebuildRollups } from '../apps/collector/src/rollups.ts'
import { ingestMetrics } from '../apps/collector/src/otlp-ingest.ts'

const { values: opt } = parseArgs({ options: { processes: { type: 'string', default: '50' }, endpoints: { type: 'string', default: '5' }, days: { type: 'string', default: '7' }, points: { type: 'boolean', default: false } } })
const P = Number(opt.processes)
const E = Number(opt.endpoints)
const MINUTE = 60_000
const minutes = Number(opt.days) * 24 * 60
const rawMinutes = Math.min(minutes, 24 * 60)
const dir = mkdtempSync(join(tmpdir(), 'collector-bench-'))
let store
try {
  store = new Store(join(dir, 'c.db'))
  const db = store.db
  const now = Date.now()
  const say = (line) => process.stdout.write(`${line}\n`)
  const seconds = (t0) => ((performance.now() - t0) / 1000).toFixed(1)
  // One stored histogram (seconds, the agent's layout): 60 requests around 20 ms.
  const histOf = (count) => ({ count, sum: count * 0.02, min: 0.01, max: 0.05, zeroCount: 0, offset: -361, counts: Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? 4 : 1) * (count / 60)) })
  const hist = JSON.stringify(histOf(60))
  const RUNTIME = ['nodejs.eventloop.delay.p99', 'nodejs.eventloop.utilization', 'process.cpu.utilization', 'v8js.memory.heap.used', 'process.memory.usage', 'v8js.gc.duration']
  const LAYERS = ['postgresql', 'redis', 'http', 'mysql']
  const WORKERS = Math.max(1, Math.round(P / 5)) // a fifth of the processes run jobs
  const JOBS = ['email/send', 'email/digest', 'reports/build']
  const OUTCOMES = ['completed', 'failed', 'retried', 'stalled']

  let started = performance.now()
  const insertProcess = db.prepare("INSERT INTO processes (instance_id, service, host, pid, ppid, role, first_seen, last_seen, interval_ms, has_metrics) VALUES (?, 'fleet', 'h', ?, 1, 'worker', ?, ?, 60000, 1)")
  const insertPoint = db.prepare("INSERT INTO endpoint_points (instance_id, service, method, route, start_ms, end_ms, count, errors, aborted, hist, unit, source, rollup) VALUES (?, 'fleet', 'GET', ?, ?, ?, 60, 1, 0, ?, 's', 'metrics', ?)")
  const insertRuntime = db.prepare('INSERT INTO runtime_points (instance_id, time_ms, name, value, rollup) VALUES (?, ?, ?, ?, ?)')
  db.transaction(() => {
    for (let p = 0; p < P; p++) {
      insertProcess.run(`i${p}`, 1000 + p, now - minutes * MINUTE, now)
      for (let m = 0; m < minutes; m++) {
        const end = now - m * MINUTE
        const rollup = m >= rawMinutes ? 1 : 0
        for (let e = 0; e < E; e++) insertPoint.run(`i${p}`, `/route-${e}/:id`, end - MINUTE, end, hist, rollup)
        for (const name of RUNTIME) insertRuntime.run(`i${p}`, end, name, 3, rollup)
      }
    }
  })()
  say(`stored ${(P * E * minutes).toLocaleString()} endpoint points and ${(P * RUNTIME.length * minutes).toLocaleString()} runtime points (${P} processes x ${E} endpoints x ${minutes} minutes) in ${seconds(started)} s`)
  started = performance.now()
  rebuildRollups(db)
  say(`their rollups built in ${seconds(started)} s (what a file written before rollups gets once, on open)`)

  // Layers, N+1 and jobs: points for the raw day; rollups per service (the sum over the processes) for every minute, 5 minutes and hour.
  started = performance.now()
  const insertFamilyPoint = db.prepare('INSERT INTO points (family, instance_id, service, end_ms, key, n1, n2, n3, hist) VALUES (?, ?, \'fleet\', ?, ?, ?, ?, 0, ?)')
  const insertRollup = db.prepare("INSERT INTO rollups (family, service, size_ms, t, key, n1, n2, n3, hist) VALUES (?, 'fleet', ?, ?, ?, ?, ?, 0, ?)")
  const families = []
  for (let e = 0; e < E; e++) {
    const endpoint = `GET /route-${e}/:id`
    for (const layer of LAYERS) families.push({ family: 'layer', key: JSON.stringify(['http', endpoint, layer]), n1: 0.2, n2: 30, processes: P })
    families.push({ family: 'nplusone', key: JSON.stringify(['http', endpoint, 'postgresql', `SELECT * FROM items_${e} WHERE order_id = ?`]), n1: 6, n2: 0, processes: P })
  }
  for (const job of JOBS) {
    const [queue, name] = job.split('/')
    for (const outcome of OUTCOMES) families.push({ family: 'job', key: JSON.stringify([queue, name, 'bullmq', 'duration', outcome]), n1: 60, n2: 0, hist: 60, processes: WORKERS })
    families.push({ family: 'job', key: JSON.stringify([queue, name, 'bullmq', 'wait', '']), n1: 60, n2: 0, hist: 60, processes: WORKERS })
    families.push({ family: 'layer', key: JSON.stringify(['job', job, 'postgresql']), n1: 0.5, n2: 40, processes: WORKERS })
  }
  let familyPoints = 0
  db.transaction(() => {
    for (const f of families) {
      const h = f.hist ? JSON.stringify(histOf(f.hist)) : null
      for (let p = 0; p < f.processes; p++) for (let m = 0; m < rawMinutes; m++) insertFamilyPoint.run(f.family, `i${p}`, now - m * MINUTE, f.key, f.n1, f.n2, h), familyPoints++
      for (const size of SIZES_OF[f.family]) {
        const per = (size / MINUTE) * f.processes
        const rh = f.hist ? JSON.stringify(histOf(f.hist * per)) : null
        for (let t = Math.floor((now - minutes * MINUTE) / size) * size; t <= now; t += size) insertRollup.run(f.family, size, t, f.key, f.n1 * per, f.n2 * per, rh)
      }
    }
  })()
  say(`stored ${familyPoints.toLocaleString()} layer, N+1 and job points (the raw day) and their rollups for ${opt.days} days in ${seconds(started)} s`)

  // Queue counts: each job worker reports every queue's counts each minute; past the raw day, the last of each hour is kept.
  started = performance.now()
  const insertQueue = db.prepare("INSERT INTO queue_points (service, instance_id, queue, state, time_ms, value) VALUES ('fleet', ?, ?, ?, ?, ?)")
  db.transaction(() => {
    for (const queue of ['email', 'reports']) for (const state of ['waiting', 'active', 'delayed', 'failed']) {
      db.prepare("INSERT INTO queues (service, queue, state) VALUES ('fleet', ?, ?)").run(queue, state)
      for (let m = 0; m < minutes; m++) {
        const time = now - m * MINUTE
        if (m < rawMinutes) for (let p = 0; p < WORKERS; p++) insertQueue.run(`i${p}`, queue, state, time, m)
        else if (time % 3_600_000 < MINUTE) insertQueue.run('i0', queue, state, time, m)
      }
    }
  })()
  // Slow traces: a root and four client spans per process every 5 minutes.
  const insertSpan = db.prepare("INSERT INTO spans (trace_id, span_id, parent_span_id, instance_id, service, name, start_ms, end_ms, status_code, attributes, kind, slow) VALUES (?, ?, ?, ?, 'fleet', ?, ?, ?, 0, ?, ?, ?)")
  let roots = 0
  db.transaction(() => {
    for (let p = 0; p < P; p++) for (let m = 0; m < minutes; m += 5) {
      const start = now - m * MINUTE - 30_000
      const trace = `${p.toString(16).padStart(8, '0')}${m.toString(16).padStart(24, '0')}`
      const duration = 500 + ((p * 7919 + m * 104729) % 5000)
      insertSpan.run(trace, `${p.toString(16).padStart(16, '0')}`, null, `i${p}`, 'GET /route-0/:id', start, start + duration, JSON.stringify({ 'http.request.method': 'GET', 'http.route': '/route-0/:id', 'agent.trace.reason': m % 10 ? 'slow' : 'n_plus_one' }), 2, 1)
      for (let s = 0; s < 4; s++) insertSpan.run(trace, `${(s + 1).toString(16).padStart(16, 'f')}`, `${p.toString(16).padStart(16, '0')}`, `i${p}`, 'SELECT', start + s * 10, start + s * 10 + 8, JSON.stringify({ 'agent.layer': 'postgresql', 'db.system.name': 'postgresql', 'db.query.text': 'SELECT * FROM items WHERE order_id = ?' }), 3, 0)
      roots++
    }
  })()
  say(`stored queue counts and ${roots.toLocaleString()} slow traces of 5 spans in ${seconds(started)} s`)

  // What ingest pays for the rollups: a report of E endpoints (with layers and N+1), stored with its rollups.
  const report = (i) => {
    const end = now + i * 1000
    const ns = (ms) => `${BigInt(ms) * 1_000_000n}`
    const a = (e, extra = {}) => Object.entries({ 'http.request.method': 'GET', 'http.route': `/route-${e}/:id`, ...extra }).map(([key, v]) => ({ key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v } }))
    const pt = (e, value, extra) => ({ attributes: a(e, extra), startTimeUnixNano: ns(end - MINUTE), timeUnixNano: ns(end), asDouble: value })
    const es = [...Array(E).keys()]
    return { resourceMetrics: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'fleet' } }, { key: 'service.instance.id', value: { stringValue: 'ingest' } }] }, scopeMetrics: [{ metrics: [
      { name: 'http.server.request.count', sum: { aggregationTemporality: 1, dataPoints: es.map((e) => pt(e, 60)) } },
      { name: 'http.server.request.duration', unit: 's', exponentialHistogram: { aggregationTemporality: 1, dataPoints: es.map((e) => ({ attributes: a(e), startTimeUnixNano: ns(end - MINUTE), timeUnixNano: ns(end), count: 60, sum: 1.2, min: 0.01, max: 0.05, scale: 6, zeroCount: 0, positive: { offset: -361, bucketCounts: histOf(60).counts } })) } },
      { name: 'agent.layer.duration', unit: 's', sum: { aggregationTemporality: 1, dataPoints: es.flatMap((e) => LAYERS.map((l) => pt(e, 0.2, { 'agent.layer': l }))) } },
      { name: 'agent.layer.calls', unit: '{call}', sum: { aggregationTemporality: 1, dataPoints: es.flatMap((e) => LAYERS.map((l) => pt(e, 30, { 'agent.layer': l }))) } },
      { name: 'agent.n_plus_one.requests', unit: '{request}', sum: { aggregationTemporality: 1, dataPoints: es.map((e) => pt(e, 6, { 'agent.layer': 'postgresql', 'db.query.text': 'SELECT ?' })) } },
    ] }] }] }
  }
  const REPORTS = 200
  started = performance.now()
  for (let i = 0; i < REPORTS; i++) ingestMetrics(db, report(i))
  const ingestMs = (performance.now() - started) / REPORTS
  say(`ingest of one report (${E} endpoints, ${LAYERS.length} layers each, N+1), rollups included: ${ingestMs.toFixed(2)} ms\n`)

  const QUERIES = [
    ['summary', (r) => endpointSummary(db, 'fleet', r)],
    ['time series', (r) => timeseries(db, 'fleet', r)],
    ['runtime', (r) => runtime(db, 'fleet', r)],
    ['processes', (r) => processes(db, 'fleet', r)],
    ['layers', (r) => layerBreakdown(db, 'fleet', r)],
    ['N+1', (r) => nPlusOne(db, 'fleet', r)],
    ['jobs', (r) => jobs(db, 'fleet', r)],
    ['queues', (r) => queues(db, 'fleet', r)],
    ['traces', (r) => slowTraces(db, 'fleet', r)],
    ...(opt.points ? [['summary from points', (r) => endpointSummary(db, 'fleet', r, { rollups: false })], ['time series from points', (r) => timeseries(db, 'fleet', r, { rollups: false })]] : []),
  ]
  say(`| range | ${QUERIES.map(([name]) => `${name} (ms)`).join(' | ')} |\n|---|${QUERIES.map(() => '---:').join('|')}|`)
  for (const name of ['15m', '1h', '6h', '24h', '7d']) {
    const range = timeRange(name, now)
    const time = (fn) => {
      const t0 = performance.now()
      fn()
      return (performance.now() - t0).toFixed(0)
    }
    say(`| ${name} | ${QUERIES.map(([, fn]) => time(() => fn(range))).join(' | ')} |`)
  }
} finally {
  store?.close()
  rmSync(dir, { recursive: true, force: true })
}
