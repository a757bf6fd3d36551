// Hand-built OTLP/JSON payloads of the shapes the agent sends (issues #15, #17), for the tests:
// what goes over the wire, written out, not produced by the agent's encoder.
import { LatencyHistogram } from '@agent/core/internal'

export type Value = string | number | boolean
export type Attrs = Record<string, Value>

export const kv = (attrs: Attrs) => Object.entries(attrs).map(([key, v]) => ({
  key,
  value: typeof v === 'string' ? { stringValue: v } : typeof v === 'boolean' ? { boolValue: v } : Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v },
}))
export const ns = (ms: number) => (BigInt(Math.round(ms * 1000)) * 1000n).toString()

export const resource = (service: string, instance: string, extra: Attrs = {}) => ({
  attributes: kv({ 'service.name': service, 'service.instance.id': instance, 'telemetry.sdk.name': '@agent/core', 'process.pid': 100, 'agent.process.role': 'standalone', ...extra }),
})

/** An exponential histogram data point at the agent's scale (6), in seconds. */
export function histogramPoint(seconds: number[], attrs: Attrs, startMs: number, endMs: number) {
  const h = new LatencyHistogram()
  for (const s of seconds) h.record(s)
  return {
    attributes: kv(attrs), startTimeUnixNano: ns(startMs), timeUnixNano: ns(endMs),
    count: String(h.count), sum: h.sum, min: h.min, max: h.max, scale: 6, zeroCount: String(h.zeroCount), positive: { offset: h.offset, bucketCounts: h.counts.map(String) },
  }
}

export const sumPoint = (value: number, attrs: Attrs, startMs: number, endMs: number) => ({
  attributes: kv(attrs), startTimeUnixNano: ns(startMs), timeUnixNano: ns(endMs), ...(Number.isInteger(value) ? { asInt: String(value) } : { asDouble: value }),
})

export const DELTA = 1
export const CUMULATIVE = 2

export const sum = (name: string, unit: string, dataPoints: unknown[], temporality = DELTA) => ({ name, unit, sum: { aggregationTemporality: temporality, isMonotonic: true, dataPoints } })
export const expHistogram = (name: string, dataPoints: unknown[], temporality = DELTA) => ({ name, unit: 's', exponentialHistogram: { aggregationTemporality: temporality, dataPoints } })
export const gauge = (name: string, unit: string, dataPoints: { value: number; attrs: Attrs; timeMs: number }[]) => ({
  name, unit, gauge: { dataPoints: dataPoints.map((p) => ({ attributes: kv(p.attrs), timeUnixNano: ns(p.timeMs), asInt: String(p.value) })) },
})

export const metricsBody = (res: ReturnType<typeof resource>, metrics: unknown[]) => JSON.stringify({ resourceMetrics: [{ resource: res, scopeMetrics: [{ scope: { name: '@agent/core' }, metrics }] }] })

export interface SpanSpec {
  traceId: string; spanId: string; parentSpanId?: string; traceState?: string; name: string; kind: number
  startMs: number; endMs: number; attrs?: Attrs; error?: boolean
}

export const span = (s: SpanSpec) => ({
  traceId: s.traceId, spanId: s.spanId, ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}), ...(s.traceState ? { traceState: s.traceState } : {}),
  name: s.name, kind: s.kind, startTimeUnixNano: ns(s.startMs), endTimeUnixNano: ns(s.endMs), attributes: kv(s.attrs ?? {}),
  status: { code: s.error ? 2 : 0 },
})

export const tracesBody = (res: ReturnType<typeof resource>, spans: SpanSpec[]) => JSON.stringify({ resourceSpans: [{ resource: res, scopeSpans: [{ scope: { name: '@agent/core' }, spans: spans.map(span) }] }] })

export const post = async (url: string, path: string, body: string) => {
  const res = await fetch(url + path, { method: 'POST', body, headers: { 'content-type': 'application/json' } })
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`)
}

export const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0')
