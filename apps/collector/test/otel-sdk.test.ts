// An app instrumented with OpenTelemetry JS shows up in the same dashboard: endpoints from the
// http.server.request.duration histogram (seconds, cumulative), from the older http.server.duration
// (ms, delta), and from server spans when the app sends no metrics; only slow spans are slow traces.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startCollector } from '../src/start-collector.ts'

const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'otel-app.cjs')
const tmp = mkdtempSync(join(tmpdir(), 'otel-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

function runApp(env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture], { env: { ...process.env, OTEL_METRIC_EXPORT_INTERVAL: '1000', OTEL_LOG_LEVEL: 'error', ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (code === 0 && out.includes('done')) resolve()
      else reject(new Error(`the OpenTelemetry app exited with ${code}: ${out}`))
    })
  })
}

interface Summary { endpoints: { method: string; route: string; count: number; errors: number; p50: number }[] }

test('OpenTelemetry JS apps: cumulative seconds, delta milliseconds and traces only, counted exactly; only slow spans listed', { timeout: 180_000 }, async (t) => {
  const running = await startCollector({ host: '127.0.0.1', port: 0, dbPath: join(mkdtempSync(join(tmp, 'case-')), 'c.db'), slowMs: 500 })
  try {
    const base = { OTEL_EXPORTER_OTLP_ENDPOINT: running.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }
    await runApp({ ...base, FIXTURE_SERVICE: 'otel-cumulative-s', OTEL_SEMCONV_STABILITY_OPT_IN: 'http', OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'cumulative' })
    await runApp({ ...base, FIXTURE_SERVICE: 'otel-delta-ms', OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta' })
    await runApp({ ...base, FIXTURE_SERVICE: 'otel-traces-only', FIXTURE_METRICS: 'off' })

    for (const service of ['otel-cumulative-s', 'otel-delta-ms', 'otel-traces-only']) {
      const summary = (await (await fetch(`${running.url}/api/summary?service=${service}&range=15m`)).json()) as Summary
      const by = Object.fromEntries(summary.endpoints.map((e) => [`${e.method} ${e.route}`, e]))
      t.diagnostic(`${service}: ${JSON.stringify(summary.endpoints.map((e) => [e.method, e.route, e.count, e.errors, e.p50]))}`)
      assert.equal(by['GET /users/:id']?.count, 20, `${service} GET /users/:id`)
      assert.equal(by['GET /slow']?.count, 2, `${service} GET /slow`)
      assert.equal(by['GET /boom']?.count, 3, `${service} GET /boom`)
      assert.equal(by['GET /boom']?.errors, 3, `${service} errors`)
      assert.equal(by['GET /users/:id']?.errors, 0)
      // Units read right: the 700 ms route in ms whatever the histogram's unit (buckets are coarse: a wide tolerance).
      assert.ok(by['GET /slow']!.p50 >= 500 && by['GET /slow']!.p50 <= 1000, `${service} /slow p50 ${by['GET /slow']!.p50} ms`)
      assert.ok(by['GET /users/:id']!.p50 < 100, `${service} /users/:id p50 ${by['GET /users/:id']!.p50} ms`)
      const traces = (await (await fetch(`${running.url}/api/traces?service=${service}&range=15m`)).json()) as { name: string; durationMs: number }[]
      assert.equal(traces.length, 2, `${service}: the two slow requests are the only slow traces: ${JSON.stringify(traces.map((x) => [x.name, x.durationMs]))}`)
      for (const tr of traces) assert.ok(tr.durationMs >= 500)
    }
  } finally {
    await running.close()
  }
})
