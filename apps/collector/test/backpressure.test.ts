// Ingest never holds up the dashboard: reports are stored by a worker thread, at most a bound of
// them in progress; beyond it the answer is 429 with Retry-After, which agents honour.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { Aggregator, encodeMetrics, newIdentity, resourceAttributes } from '@agent/core/internal'
import { startCollector } from '../src/start-collector.ts'

function metricsBody(service: string, requests: number, noiseBytes = 0): string {
  const agg = new Aggregator(10)
  for (let i = 0; i < requests; i++) agg.record('GET', '/flood', 2, false, false)
  const resource = resourceAttributes({ serviceName: service, identity: newIdentity() })
  // Random text compresses little: a report this large stays about as large gzipped.
  if (noiseBytes) resource.push({ key: 'noise', value: { stringValue: randomBytes(noiseBytes).toString('base64') } } as never)
  return encodeMetrics({ resource, interval: agg.drain() })
}

const tmp = mkdtempSync(join(tmpdir(), 'backpressure-'))
after(() => rmSync(tmp, { recursive: true, force: true }))
const dbPath = () => join(mkdtempSync(join(tmp, 'case-')), 'c.db')

test('with the bound of reports in progress reached, a report gets 429 with Retry-After, and is taken once there is room', async () => {
  const running = await startCollector({ host: '127.0.0.1', port: 0, dbPath: dbPath(), maxPendingReports: 1 })
  const { port } = new URL(running.url)
  try {
    const body = Buffer.from(metricsBody('bp', 5))
    // A report still uploading holds the one slot.
    const slow = http.request({ host: '127.0.0.1', port, path: '/v1/metrics', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } })
    const slowAnswer = new Promise<number>((resolve, reject) => slow.on('response', (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject))
    slow.write(body.subarray(0, 100))
    // Until the server has taken it, a second report could get the slot first: wait for the 429 itself (bounded).
    let refused: Response | undefined
    for (let i = 0; i < 50 && !refused; i++) {
      const res = await fetch(`${running.url}/v1/metrics`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })
      if (res.status === 429) refused = res
      else await new Promise((r) => setTimeout(r, 20))
    }
    assert.ok(refused, 'a 429 while the slot is held')
    assert.ok(Number(refused.headers.get('retry-after')) >= 1, `Retry-After: ${refused.headers.get('retry-after')}`)
    assert.match(((await refused.json()) as { error: string }).error, /the collector is behind: 1 reports in progress; retry after \d+ s/)
    // The dashboard is not ingest: it answers meanwhile.
    assert.equal((await fetch(`${running.url}/api/services`)).status, 200)
    slow.end(body.subarray(100))
    assert.equal(await slowAnswer, 200)
    const retried = await fetch(`${running.url}/v1/metrics`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })
    assert.equal(retried.status, 200)
    const summary = (await (await fetch(`${running.url}/api/summary?service=bp`)).json()) as { endpoints: { count: number }[] }
    assert.equal(summary.endpoints[0]!.count, 5 * 2)
  } finally {
    await running.close()
  }
})

test('a flood of 8 MB gzip reports from a bounded client loop: the dashboard API keeps answering, each report is stored or refused with 429', { timeout: 180_000 }, async (t) => {
  const running = await startCollector({ host: '127.0.0.1', port: 0, dbPath: dbPath(), maxPendingReports: 4, maxBodyBytes: 9 * 1024 * 1024, maxDecompressedBytes: 16 * 1024 * 1024 })
  try {
    const gz = gzipSync(metricsBody('flood', 10, 8_100_000))
    t.diagnostic(`report: ${(gz.length / 1048576).toFixed(1)} MB gzipped`)
    assert.ok(gz.length > 8_000_000 && gz.length < 9 * 1024 * 1024)
    const CLIENTS = 6
    const EACH = 4
    const statuses: number[] = []
    let flooding = true
    const clients = Array.from({ length: CLIENTS }, async () => {
      for (let i = 0; i < EACH; i++) {
        const res = await fetch(`${running.url}/v1/metrics`, { method: 'POST', body: gz, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } })
        if (res.status === 429) assert.ok(Number(res.headers.get('retry-after')) >= 1)
        statuses.push(res.status)
        await res.arrayBuffer()
      }
    })
    const flood = Promise.all(clients).finally(() => (flooding = false))
    // The dashboard's reads during the flood (bounded loop): every one answered.
    let answeredDuringFlood = 0
    let slowestMs = 0
    for (let i = 0; i < 2000 && flooding; i++) {
      const started = performance.now()
      const res = await fetch(`${running.url}/api/summary?service=flood&range=15m`)
      assert.equal(res.status, 200)
      await res.json()
      slowestMs = Math.max(slowestMs, performance.now() - started)
      if (flooding) answeredDuringFlood++
    }
    await flood
    const accepted = statuses.filter((s) => s === 200).length
    t.diagnostic(`${statuses.length} reports: ${accepted} stored, ${statuses.filter((s) => s === 429).length} refused with 429; dashboard answered ${answeredDuringFlood} times during the flood, slowest ${slowestMs.toFixed(0)} ms`)
    assert.equal(statuses.length, CLIENTS * EACH)
    assert.ok(statuses.every((s) => s === 200 || s === 429), JSON.stringify(statuses))
    assert.ok(accepted > 0)
    assert.ok(answeredDuringFlood > 0, 'the dashboard answered while reports were in progress')
    const summary = (await (await fetch(`${running.url}/api/summary?service=flood&range=15m`)).json()) as { endpoints: { count: number }[] }
    assert.equal(summary.endpoints[0]!.count, accepted * 10, 'every report answered 200 is stored, once')
  } finally {
    await running.close()
  }
})
