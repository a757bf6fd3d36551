// The agent's protobuf is decoded by an independent decoder, OpenTelemetry
// JS 0.57's (the protobuf root generated in @opentelemetry/otlp-transformer),
// and must hold exactly what the JSON payload of the same data holds: both are
// brought to the decoder's object form and compared whole.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { Aggregator } from '../src/aggregator.ts'
import { ErrorService } from '../src/error-service.ts'
import { MetricsEncoding, encodeLogs, encodeMetrics, encodeTraces, errorLogs, logsBody, metricsBody, processStartLog, resourceAttributes, tracesBody, type MetricsInput } from '../src/otlp-encoder.ts'
import { ProtoWriter } from '../src/otlp-protobuf.ts'
import { newIdentity } from '../src/process-identity.ts'
import type { TraceRecord } from '../src/slow-traces.ts'

const require = createRequire(import.meta.url)
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root')
const proto = root.opentelemetry.proto.collector

const ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId'])
const OBJECT_FORM = { longs: String, enums: Number, bytes: String, defaults: false }

/** OTLP/JSON writes ids as hex; protobufjs's object form wants base64 for bytes. */
function hexIdsToBase64(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(hexIdsToBase64)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, ID_FIELDS.has(k) && typeof v === 'string' ? Buffer.from(v, 'hex').toString('base64') : hexIdsToBase64(v)]))
  }
  return value
}

/** The protobuf body decoded, and the JSON body of the same data, each in the decoder's object form: they must be equal. */
function assertSameContent(type: any, protobuf: Buffer, json: string) {
  const fromProtobuf = type.toObject(type.decode(protobuf), OBJECT_FORM)
  const fromJson = type.toObject(type.fromObject(hexIdsToBase64(JSON.parse(json))), OBJECT_FORM)
  assert.deepEqual(fromProtobuf, fromJson)
  return fromProtobuf
}

const resource = resourceAttributes({
  serviceName: 'shöp', identity: newIdentity(), framework: { name: 'express', version: '5.1.0' }, extra: { 'deployment.environment': 'x'.repeat(300) },
})

/** An interval with what a busy app's has: many endpoints, odd route names, layers, N+1 shapes, jobs and queues. */
function busyInterval(endpoints: number) {
  const agg = new Aggregator(1000)
  for (let e = 0; e < endpoints; e++) for (let i = 0; i < 200; i++) agg.record('GET', `/route-${e}/:id/"ü"\\`, 0.001 + ((i * 7919) % 997) / 1e4, i % 50 === 0, i === 3)
  // One bucket past 127 (a multi-byte varint), one endpoint with a zero-length request.
  for (let i = 0; i < 300; i++) agg.record('POST', '/hot', 0.005, false, false)
  agg.record('GET', '/instant', 0, false, false)
  const interval = agg.drain()
  interval.endpoints[0]!.layers = [{ layer: 'postgresql', calls: 7, timeS: 0.125 }, { layer: 'http', calls: 1, timeS: 1 / 3 }]
  interval.endpoints[1]!.nPlusOne = [{ layer: 'postgresql', statement: 'SELECT * FROM "users" WHERE id = $1', requests: 4 }]
  interval.jobs = [{ system: 'bullmq', queue: 'mail', name: 'send', outcomes: [{ outcome: 'completed', histogram: interval.endpoints[2]!.histogram }], wait: interval.endpoints[3]!.histogram, layers: [{ layer: 'redis', calls: 2, timeS: 0.01 }] }]
  interval.queues = [{ queue: 'mail', waiting: 3, active: 1, delayed: 0, failed: 2 }]
  return interval
}

const runtime = { eventLoopDelayMs: { min: 1, mean: 2.5, p50: 2, p99: 9, max: 12 }, eventLoopUtilization: 0.2, heapUsedBytes: 1, heapLimitBytes: 2 ** 33, externalBytes: 3, rssBytes: 4, cpuUserMs: 5, cpuSystemMs: 6, cpuUtilization: 0.1, gcCount: 7, gcPauseMs: 8.5 }

test('metrics: the protobuf holds what the JSON holds, a primary\'s breakdown, orphans and lost workers included', () => {
  const interval = busyInterval(40)
  const input: MetricsInput = {
    resource, interval, runtime, drops: { payloads: 2, requests: 30 },
    processes: [{ resource, interval: busyInterval(3), runtime, handOverThrough: 12 }],
    orphans: [{ interval: busyInterval(2), from: 3, through: 5 }],
    lost: [{ workerId: 2, pid: 4242, seconds: 1.5 }],
  }
  const type = proto.metrics.v1.ExportMetricsServiceRequest
  const decoded = assertSameContent(type, metricsBody(input, 'http/protobuf'), encodeMetrics(input))
  const own = decoded.resourceMetrics[0].scopeMetrics[0].metrics
  const duration = own.find((m: any) => m.name === 'http.server.request.duration').exponentialHistogram.dataPoints
  assert.equal(duration.length, 42)
  assert.ok(duration.some((p: any) => p.positive.bucketCounts?.includes('300')), 'a bucket count past 127')
  assert.equal(decoded.resourceMetrics.length, 3)
})

test('metrics: encoded in slices, the protobuf is the same as encoded at once', () => {
  const input: MetricsInput = { resource, interval: busyInterval(100), runtime }
  const sliced = new MetricsEncoding(input, 'http/protobuf')
  let slices = 1
  while (!sliced.step(0)) slices++
  assert.ok(slices > 1, 'more than one slice')
  assert.deepEqual(sliced.result(), metricsBody(input, 'http/protobuf'))
})

test('metrics: an interval without endpoints (a drop report) and one with only runtime metrics', () => {
  const type = proto.metrics.v1.ExportMetricsServiceRequest
  const empty: MetricsInput = { resource, interval: { startMs: 1, endMs: 2, endpoints: [] }, drops: { payloads: 1, requests: 0 } }
  assertSameContent(type, metricsBody(empty, 'http/protobuf'), encodeMetrics(empty))
  const quiet: MetricsInput = { resource, interval: { startMs: Date.now() - 60_000, endMs: Date.now(), endpoints: [] }, runtime, temporality: 'cumulative' }
  assertSameContent(type, metricsBody(quiet, 'http/protobuf'), encodeMetrics(quiet))
})

test('traces: the protobuf holds what the JSON holds: ids as bytes, parents, trace state, a job\'s consumer span', () => {
  const now = Date.now()
  const traces: TraceRecord[] = [{
    trace: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', parentSpanId: '00f067aa0ba902b7', traceState: 'vendor=x', flags: '01' }, reason: 'slow',
    method: 'GET', route: '/slow', url: '/slow?q=ü', status: 500, startEpochMs: now - 900.25, durationMs: 900.5, aborted: true, droppedSpans: 3, error: 'boom',
    spans: [
      { name: 'db.query', spanId: '00f067aa0ba902b9', offsetMs: 10, durationMs: 800, attributes: { 'db.system': 'sqlite', 'db.rows': -1, 'db.ratio': 0.5, 'db.cached': false } },
      { name: 'SELECT', client: true, spanId: '00f067aa0ba902b8', offsetMs: 20, durationMs: 5, error: 'timeout', attributes: { 'agent.layer': 'postgresql' } },
    ],
  } as TraceRecord, {
    trace: { traceId: '1af7651916cd43dd8448eb211c80319c', spanId: 'c7ad6b7169203331', flags: '01' }, reason: 'slow',
    method: '', route: 'mail/send', url: '', status: 0, startEpochMs: now - 10, durationMs: 10, aborted: false, droppedSpans: 0,
    job: { system: 'bullmq', queue: 'mail', name: 'send', id: '17', outcome: 'failed' }, spans: [],
  } as unknown as TraceRecord]
  const type = proto.trace.v1.ExportTraceServiceRequest
  const decoded = assertSameContent(type, tracesBody(resource, traces, 'http/protobuf'), encodeTraces(resource, traces))
  const spans = decoded.resourceSpans[0].scopeSpans[0].spans
  assert.equal(spans.length, 4)
  assert.equal(Buffer.from(spans[0].parentSpanId, 'base64').toString('hex'), '00f067aa0ba902b7')
  assert.equal(spans[3].kind, 5)
})

test('logs: the protobuf holds what the JSON holds: errors with their trace, the process start', () => {
  const errors = new ErrorService()
  errors.capture(new TypeError('bad thing'), 'GET', '/users/:id', { url: '/users/1' })
  const logs = [...errorLogs(errors.drain()), processStartLog(newIdentity(), { name: 'fastify', version: '5.6.0' })]
  logs[0] = { ...logs[0]!, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' }
  // The observed time is read at encoding: both bodies within the same millisecond, or retried.
  const type = proto.logs.v1.ExportLogsServiceRequest
  for (let tries = 0; ; tries++) {
    try {
      assertSameContent(type, logsBody(resource, logs, 'http/protobuf'), encodeLogs(resource, logs))
      return
    } catch (err) {
      if (tries === 5) throw err
    }
  }
})

test('the writer: lengths that need more than one byte, at every nesting, and 64-bit values', () => {
  const w = new ProtoWriter(4)
  w.tag(1, 2)
  const outer = w.beginLen()
  w.string(1, 'é'.repeat(100_000))
  w.tag(2, 0)
  w.int64(-1)
  w.tag(3, 1)
  w.fixed64(2n ** 63n + 5n)
  w.tag(4, 0)
  w.varint(2 ** 53 - 1)
  w.endLen(outer)
  const bytes = w.result()
  // Read back by hand: field 1 of the outer message, then its fields.
  let p = 0
  const varint = () => {
    let n = 0n
    let shift = 0n
    for (;;) {
      const b = bytes[p++]!
      n |= BigInt(b & 127) << shift
      shift += 7n
      if (b < 128) return n
    }
  }
  assert.equal(varint(), 10n)
  assert.equal(Number(varint()), bytes.length - p)
  assert.equal(varint(), 10n)
  const length = Number(varint())
  assert.equal(bytes.toString('utf8', p, p + length), 'é'.repeat(100_000))
  p += length
  assert.equal(varint(), 16n)
  assert.equal(varint(), 2n ** 64n - 1n)
  assert.equal(varint(), 25n)
  assert.equal(bytes.readBigUInt64LE(p), 2n ** 63n + 5n)
  p += 8
  assert.equal(varint(), 32n)
  assert.equal(varint(), 2n ** 53n - 1n)
  assert.equal(p, bytes.length)
})

test('bucket counts that are not counts (a worker\'s data gone wrong) still make a body each decoder reads', () => {
  const interval = busyInterval(4)
  interval.endpoints[0]!.histogram.counts.splice(0, 3, -1, 1.5, 300)
  const input: MetricsInput = { resource, interval }
  const type = proto.metrics.v1.ExportMetricsServiceRequest
  const decoded = type.toObject(type.decode(metricsBody(input, 'http/protobuf')), OBJECT_FORM)
  const counts = decoded.resourceMetrics[0].scopeMetrics[0].metrics.find((m: any) => m.name === 'http.server.request.duration').exponentialHistogram.dataPoints[0].positive.bucketCounts
  assert.deepEqual(counts.slice(0, 3), ['18446744073709551615', '1', '300'], 'a negative as uint64 wraps, a fraction is cut')
  assert.deepEqual(JSON.parse(encodeMetrics(input)).resourceMetrics[0].scopeMetrics[0].metrics[2].exponentialHistogram.dataPoints[0].positive.bucketCounts.slice(0, 3), [-1, 1, 300])
})
