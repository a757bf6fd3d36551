#!/usr/bin/env node
// How long the collector's dashboard queries take with a fleet's worth of data: PROCESSES
// processes, ENDPOINTS endpoints each, one report a minute for DAYS days (rows written
// straight into the store, in the stored layout), then each API query per range, timed.
//   node --import tsx bench/collector-queries.mjs [--processes 50 --endpoints 5 --days 7]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { Store } from '../apps/collector/src/store.ts'
import { endpointSummary, processes, runtime, timeseries } from '../apps/collector/src/queries.ts'
import { timeRange } from '../apps/collector/src/time-range.ts'
import { rebuildRollups } from '../apps/collector/src/rollups.ts'

const { values: opt } = parseArgs({ options: { processes: { type: 'string', default: '50' }, endpoints: { type: 'string', default: '5' }, days: { type: 'string', default: '7' } } })
const P = Number(opt.processes)
const E = Number(opt.endpoints)
const minutes = Number(opt.days) * 24 * 60
const dir = mkdtempSync(join(tmpdir(), 'collector-bench-'))
const store = new Store(join(dir, 'c.db'))
const db = store.db
const now = Date.now()
// One stored histogram (seconds, the agent's layout): 60 requests around 20 ms.
const hist = JSON.stringify({ count: 60, sum: 1.2, min: 0.01, max: 0.05, zeroCount: 0, offset: -361, counts: Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? 4 : 1)) })

const started = performance.now()
const insertProcess = db.prepare("INSERT INTO processes (instance_id, service, host, pid, ppid, role, first_seen, last_seen, interval_ms, has_metrics) VALUES (?, 'fleet', 'h', ?, 1, 'worker', ?, ?, 60000, 1)")
const insertPoint = db.prepare("INSERT INTO endpoint_points (instance_id, service, method, route, start_ms, end_ms, count, errors, aborted, hist, unit, source, rollup) VALUES (?, 'fleet', 'GET', ?, ?, ?, 60, 1, 0, ?, 's', 'metrics', ?)")
const insertRuntime = db.prepare('INSERT INTO runtime_points (instance_id, time_ms, name, value, rollup) VALUES (?, ?, ?, ?, ?)')
db.transaction(() => {
  for (let p = 0; p < P; p++) {
    insertProcess.run(`i${p}`, 1000 + p, now - minutes * 60_000, now)
    for (let m = 0; m < minutes; m++) {
      const end = now - m * 60_000
      const rollup = m >= 24 * 60 ? 1 : 0
      for (let e = 0; e < E; e++) insertPoint.run(`i${p}`, `/route-${e}/:id`, end - 60_000, end, hist, rollup)
      insertRuntime.run(`i${p}`, end, 'nodejs.eventloop.delay.p99', 3, rollup)
    }
  }
})()
const rows = P * E * minutes
process.stdout.write(`stored ${rows.toLocaleString()} endpoint points (${P} processes x ${E} endpoints x ${minutes} minutes) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
const rebuildStarted = performance.now()
rebuildRollups(db)
process.stdout.write(`rollups built from them in ${((performance.now() - rebuildStarted) / 1000).toFixed(1)} s\n\n`)

process.stdout.write('| range | summary (ms) | time series (ms) | runtime (ms) | processes (ms) |\n|---|---:|---:|---:|---:|\n')
for (const name of ['15m', '1h', '6h', '24h', '7d']) {
  const range = timeRange(name, now)
  const time = (fn) => {
    const t0 = performance.now()
    fn()
    return (performance.now() - t0).toFixed(0)
  }
  process.stdout.write(`| ${name} | ${time(() => endpointSummary(db, 'fleet', range))} | ${time(() => timeseries(db, 'fleet', range))} | ${time(() => runtime(db, 'fleet', range))} | ${time(() => processes(db, 'fleet', range))} |\n`)
}
store.close()
rmSync(dir, { recursive: true, force: true })
