// Payloads are checked with the OpenTelemetry project's own OTLP definitions
// (the protobuf root generated in @opentelemetry/otlp-transformer), not only
// with this project's code: every field must exist in the proto schema and
// survive a protobuf round trip.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { Aggregator } from '../src/aggregator.ts'
import { encodeLogs, encodeMetrics, encodeTraces, errorLogs, resourceAttributes } from '../src/otlp-encoder.ts'
import { newIdentity } from '../src/process-identity.ts'
import { ErrorService } from '../src/error-service.ts'
import { LatencyHistogram } from '../src/histogram.ts'

const require = createRequire(import.meta.url)
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root')
const proto = root.opentelemetry.proto.collector

const ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId'])

/** OTLP/JSON writes ids as hex; protobufjs's JSON form wants base64 for bytes. */
function hexIdsToBase64(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(hexIdsToBase64)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, ID_FIELDS.has(k) && typeof v === 'string' ? Buffer.from(v, 'hex').toString('base64') : hexIdsToBase64(v)]))
  }
  return value
}

/** Every key of ours must come back from the decoder: unknown fields would be dropped silently. */
function assertSameShape(ours: unknown, decoded: unknown, path = '$'): void {
  if (Array.isArray(ours)) {
    assert.ok(Array.isArray(decoded), `${path} is not an array after decoding`)
    ours.forEach((v, i) => assertSameShape(v, (decoded as unknown[])[i], `${path}[${i}]`))
    return
  }
  if (ours && typeof ours === 'object') {
    for (const [k, v] of Object.entries(ours)) {
      if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue // empty message (status {}) is the default
      if (Array.isArray(v) && v.length === 0) continue
      assert.ok(decoded && typeof decoded === 'object' && k in decoded, `${path}.${k} is not a field of the OTLP proto`)
      assertSameShape(v, (decoded as Record<string, unknown>)[k], `${path}.${k}`)
    }
  }
}

function roundTrip(type: any, json: string) {
  const ours = JSON.parse(json)
  const message = type.fromObject(hexIdsToBase64(ours))
  const bytes = type.encode(message).finish()
  const decoded = type.toObject(type.decode(bytes), { longs: String, enums: Number, bytes: String, defaults: false })
  assertSameShape(hexIdsToBase64(ours), decoded)
  return decoded
}

const resource = resourceAttributes({ serviceName: 'shop', identity: newIdentity(), framework: { name: 'express', version: '5.1.0' } })

test('metrics decode with the OTLP proto: sums, exponential histogram, gauges, drops', () => {
  const agg = new Aggregator(100)
  for (let i = 1; i <= 1000; i++) agg.record('GET', '/users/:id', i / 10, i % 10 === 0, false)
  agg.record('POST', '/orders', 12, false, true)
  const interval = agg.drain()
  const json = encodeMetrics({
    resource,
    interval,
    runtime: { eventLoopDelayMs: { min: 1, mean: 2, p50: 2, p99: 9, max: 12 }, eventLoopUtilization: 0.2, heapUsedBytes: 1, heapLimitBytes: 2, externalBytes: 3, rssBytes: 4, cpuUserMs: 5, cpuSystemMs: 6, cpuUtilization: 0.1, gcCount: 7, gcPauseMs: 8.5 },
    drops: { payloads: 2, requests: 30 },
  })
  const decoded = roundTrip(proto.metrics.v1.ExportMetricsServiceRequest, json)
  const metrics = decoded.resourceMetrics[0].scopeMetrics[0].metrics
  assert.equal(metrics.some((m: any) => m.name === 'http.server.request.count'), false, 'the request count is the histogram\'s, not sent twice')
  const aborted = metrics.find((m: any) => m.name === 'agent.http.server.request.aborted')
  assert.equal(aborted.sum.aggregationTemporality, 1)
  assert.equal(aborted.sum.dataPoints.map((p: any) => Number(p.asInt)).reduce((a: number, b: number) => a + b), 1)
  const hist = metrics.find((m: any) => m.name === 'http.server.request.duration').exponentialHistogram.dataPoints[0]
  assert.equal(hist.count, '1000')
  assert.equal(hist.positive.bucketCounts.map(Number).reduce((a: number, b: number) => a + b) + Number(hist.zeroCount ?? 0), 1000)
  // The decoded buckets give back the same percentiles.
  const rebuilt = LatencyHistogram.from({ count: 1000, sum: hist.sum, min: hist.min, max: hist.max, zeroCount: Number(hist.zeroCount ?? 0), offset: hist.positive.offset ?? 0, counts: hist.positive.bucketCounts.map(Number) })
  assert.ok(Math.abs(rebuilt.quantile(0.5) - 50) / 50 < 0.01)
  assert.ok(metrics.some((m: any) => m.name === 'agent.export.dropped.requests' && m.sum.dataPoints[0].asInt === '30'))
  const attrs = Object.fromEntries(decoded.resourceMetrics[0].resource.attributes.map((a: any) => [a.key, a.value]))
  for (const key of ['service.name', 'service.instance.id', 'host.name', 'process.pid', 'process.parent_pid', 'process.runtime.name', 'process.runtime.version', 'telemetry.sdk.name', 'telemetry.sdk.language', 'telemetry.sdk.version', 'agent.process.role']) {
    assert.ok(key in attrs, `resource attribute ${key}`)
  }
})

test('traces decode with the OTLP proto: a server span and its children share the trace', () => {
  const json = encodeTraces(resource, [{
    trace: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', flags: '01' }, reason: 'slow',
    method: 'GET', route: '/slow', url: '/slow', status: 500, startEpochMs: Date.now() - 900, durationMs: 900, aborted: false, droppedSpans: 0, error: 'boom',
    spans: [{ name: 'db.query', offsetMs: 10, durationMs: 800, attributes: { 'db.system': 'sqlite' } }, { name: 'SELECT', client: true, spanId: '00f067aa0ba902b7', offsetMs: 20, durationMs: 5, attributes: { 'agent.layer': 'postgresql' } }],
  }])
  const decoded = roundTrip(proto.trace.v1.ExportTraceServiceRequest, json)
  const spans = decoded.resourceSpans[0].scopeSpans[0].spans
  assert.equal(spans.length, 3)
  assert.equal(spans[0].kind, 2)
  assert.equal(Buffer.from(spans[0].traceId, 'base64').toString('hex'), '0af7651916cd43dd8448eb211c80319c')
  assert.equal(spans[1].kind, 1, 'the app\'s own span is internal')
  assert.equal(spans[2].kind, 3, 'a call out is a client span')
  assert.equal(Buffer.from(spans[2].spanId, 'base64').toString('hex'), '00f067aa0ba902b7', 'the id it was propagated with')
  assert.equal(spans[1].traceId, spans[0].traceId)
  assert.equal(spans[1].parentSpanId, spans[0].spanId)
  assert.equal(spans[0].status.code, 2)
  assert.equal(Buffer.from(spans[0].traceId, 'base64').length, 16)
})

test('logs decode with the OTLP proto: errors carry exception attributes', () => {
  const errors = new ErrorService()
  errors.capture(new TypeError('bad thing 42'), 'GET', '/users/:id', { url: '/users/1' })
  errors.capture(new TypeError('bad thing 43'), 'GET', '/users/:id')
  const groups = errors.drain()
  assert.equal(groups.length, 1, 'numbers do not split a group')
  assert.equal(groups[0]!.count, 2)
  const decoded = roundTrip(proto.logs.v1.ExportLogsServiceRequest, encodeLogs(resource, errorLogs(groups)))
  const record = decoded.resourceLogs[0].scopeLogs[0].logRecords[0]
  const attrs = Object.fromEntries(record.attributes.map((a: any) => [a.key, a.value]))
  assert.equal(attrs['exception.type'].stringValue, 'TypeError')
  assert.match(attrs['exception.stacktrace'].stringValue, /TypeError: bad thing 42/)
  assert.equal(record.severityNumber, 17)
})
