import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { Aggregator, encodeMetrics, resourceAttributes, newIdentity } from '@agent/core/internal'
import { startCollector } from '../src/start-collector.ts'

const tmp = mkdtempSync(join(tmpdir(), 'collector-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

async function collector(dbPath: string, key?: string) {
  return startCollector({ host: '127.0.0.1', port: 0, dbPath, ...(key ? { keys: [key] } : {}), maxBodyBytes: 64 * 1024, maxDecompressedBytes: 64 * 1024 })
}

function metricsBody(requests: number): string {
  const agg = new Aggregator(10)
  for (let i = 0; i < requests; i++) agg.record('GET', '/users/:id', (1 + i) / 1000, i % 5 === 0, false) // seconds
  return encodeMetrics({ resource: resourceAttributes({ serviceName: 'shop', identity: newIdentity() }), interval: agg.drain() })
}

const post = (url: string, path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  fetch(url + path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })

test('stores what the agent sends and serves it back, percentiles from merged histograms', async (t) => {
  const c = await collector(join(mkdtempSync(join(tmp, 'case-')), 'c.db'))
  // Closed however the test ends: a failed assertion must not leave the worker thread running.
  t.after(() => c.close())
  assert.equal((await post(c.url, '/v1/metrics', metricsBody(100))).status, 200)
  assert.equal((await post(c.url, '/v1/metrics', gzipSync(metricsBody(50)), { 'content-encoding': 'gzip' })).status, 200)
  const summary = (await (await fetch(`${c.url}/api/summary?service=shop`)).json()) as { endpoints: { count: number; errors: number; p50: number }[] }
  const e = summary.endpoints[0]!
  assert.equal(e.count, 150)
  assert.equal(e.errors, 30)
  assert.ok(Math.abs(e.p50 - 38) / 38 < 0.02, `p50 ${e.p50}`)
})

test('malformed and oversized payloads get a 400 with the reason, and nothing is stored', async (t) => {
  const c = await collector(join(mkdtempSync(join(tmp, 'case-')), 'c.db'))
  // Closed however the test ends: a failed assertion must not leave the worker thread running.
  t.after(() => c.close())
  const cases: [string | Buffer, RegExp][] = [
    ['{"resourceMetrics": [', /malformed JSON/],
    ['{"resourceMetrics": {}}', /\$\.resourceMetrics: expected an array/],
    ['{"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]}, "scopeMetrics": [{"metrics": [{"name": "http.server.request.count", "sum": {"dataPoints": [{"timeUnixNano": "x"}]}}]}]}]}', /timeUnixNano: expected an integer/],
    [Buffer.alloc(70 * 1024, 32), /payload too large/],
    [gzipSync(Buffer.alloc(200 * 1024, 32)), /larger than 65536 bytes once decompressed/],
  ]
  for (const [body, reason] of cases) {
    const res = await post(c.url, '/v1/metrics', body, Buffer.isBuffer(body) && body[0] === 0x1f ? { 'content-encoding': 'gzip' } : {})
    assert.equal(res.status, 400)
    assert.match(((await res.json()) as { error: string }).error, reason)
  }
  assert.deepEqual(await (await fetch(`${c.url}/api/services`)).json(), [])
})

test('with a key configured, a report without it gets a 401', async (t) => {
  const c = await collector(join(mkdtempSync(join(tmp, 'case-')), 'c.db'), 'sekret')
  // Closed however the test ends: a failed assertion must not leave the worker thread running.
  t.after(() => c.close())
  const res = await post(c.url, '/v1/metrics', metricsBody(1))
  assert.equal(res.status, 401)
  assert.match(((await res.json()) as { error: string }).error, /x-agent-key/)
  assert.equal((await post(c.url, '/v1/metrics', metricsBody(1), { 'x-agent-key': 'wrong' })).status, 401)
  assert.equal((await post(c.url, '/v1/metrics', metricsBody(1), { 'x-agent-key': 'sekret' })).status, 200)
})

test('data survives a collector restart', async (t) => {
  const db = join(mkdtempSync(join(tmp, 'case-')), 'c.db')
  const first = await collector(db)
  try {
    assert.equal((await post(first.url, '/v1/metrics', metricsBody(42))).status, 200)
  } finally {
    await first.close()
  }
  const second = await collector(db)
  t.after(() => second.close())
  const summary = (await (await fetch(`${second.url}/api/summary?service=shop`)).json()) as { endpoints: { count: number }[] }
  assert.equal(summary.endpoints[0]?.count, 42)
})
