// What goes out follows OpenTelemetry's conventions: durations in seconds,
// delta by default or cumulative on request, the app's resource attributes
// and headers beside the agent's own.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { Agent } from '../src/agent.ts'
import { OtlpSink, attrs } from '@agent/test-helpers/otlp-sink.ts'
import { get } from '@agent/test-helpers/load.ts'

async function measured(agent: Agent) {
  agent.start()
  const server = http.createServer((req, res) => setTimeout(() => res.end('ok'), req.url === '/slowish' ? 30 : 0))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  return { port, close: () => { server.closeAllConnections(); server.close() } }
}

const durationPoints = (sink: OtlpSink) => sink.payloads('/v1/metrics').flatMap((b) => b.resourceMetrics.flatMap((rm: any) => rm.scopeMetrics.flatMap((sm: any) => sm.metrics.filter((m: any) => m.name === 'http.server.request.duration'))))

test('request durations go out in seconds; resource attributes and headers from the configuration ride along', async () => {
  const sink = await OtlpSink.start()
  const agent = new Agent({ name: 'conv', endpoint: sink.url, logLevel: 'silent', forceStart: true, flushIntervalMs: 60_000, resourceAttributes: { 'deployment.environment': 'test', 'service.name': 'ignored' }, headers: { 'X-Tenant': 't1' } })
  const app = await measured(agent)
  try {
    for (let i = 0; i < 3; i++) await get(`http://127.0.0.1:${app.port}/slowish`)
    assert.equal(await agent.shutdown(), true)
    const [metric] = durationPoints(sink)
    assert.equal(metric.unit, 's')
    // The sink runs in this process too: its own requests are measured beside the app's.
    const point = metric.exponentialHistogram.dataPoints.find((p: any) => attrs(p.attributes)['http.route'] === '/slowish')
    assert.ok(point.min >= 0.025 && point.max < 5, `30 ms requests measured as ${point.min}..${point.max} s`)
    const resource = attrs(sink.payloads('/v1/metrics')[0].resourceMetrics[0].resource.attributes)
    assert.equal(resource['deployment.environment'], 'test')
    assert.equal(resource['service.name'], 'conv', 'the agent\'s own keys are not replaced')
    assert.equal(sink.received[0]!.headers['x-tenant'], 't1')
    assert.equal(sink.received[0]!.headers['x-agent-key'], undefined, 'no key configured, none sent')
  } finally {
    app.close()
    await sink.close()
  }
})

test('cumulative temporality: each interval carries the totals since start, from one start time', async () => {
  const sink = await OtlpSink.start()
  const agent = new Agent({ name: 'cum', key: 'k', endpoint: sink.url, logLevel: 'silent', forceStart: true, flushIntervalMs: 60_000, temporality: 'cumulative' })
  const app = await measured(agent)
  try {
    for (let i = 0; i < 3; i++) await get(`http://127.0.0.1:${app.port}/a`)
    agent.handOnInterval(false)
    for (let i = 0; i < 2; i++) await get(`http://127.0.0.1:${app.port}/a`)
    assert.equal(await agent.shutdown(), true)
    // The sink runs in this process too: only the app's route is looked at.
    const ofApp = (points: any[]) => points.find((p: any) => attrs(p.attributes)['http.route'] === '/a')
    const counts = sink.payloads('/v1/metrics').flatMap((b) => b.resourceMetrics.flatMap((rm: any) => rm.scopeMetrics.flatMap((sm: any) => sm.metrics.filter((m: any) => m.name === 'agent.http.server.request.errors'))))
    assert.deepEqual(counts.map((m: any) => m.sum.aggregationTemporality), [2, 2])
    assert.deepEqual(counts.map((m: any) => Number(ofApp(m.sum.dataPoints).asInt)), [0, 0])
    assert.equal(ofApp(counts[0].sum.dataPoints).startTimeUnixNano, ofApp(counts[1].sum.dataPoints).startTimeUnixNano)
    const histograms = durationPoints(sink).map((m: any) => m.exponentialHistogram)
    assert.deepEqual(histograms.map((h: any) => [h.aggregationTemporality, Number(ofApp(h.dataPoints).count)]), [[2, 3], [2, 5]])
  } finally {
    app.close()
    await sink.close()
  }
})
