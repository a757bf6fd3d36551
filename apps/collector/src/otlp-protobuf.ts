// OTLP/HTTP protobuf bodies (`application/x-protobuf`, OTLP's default
// protocol) read into the JSON form the ingest code reads, with OpenTelemetry
// JS's own decoder: the protobuf root generated in @opentelemetry/otlp-transformer.
import { createRequire } from 'node:module'
import type { Signal } from './ingest-protocol.js'

/** The decoder of one request type, as protobufjs generates it. */
interface MessageType {
  decode(bytes: Uint8Array): object
  toObject(message: object, options: object): Record<string, unknown>
}

let requests: Record<Signal, MessageType> | undefined

/** Loaded at the first protobuf body: a collector that only ever reads JSON never loads it. */
function requestTypes(): Record<Signal, MessageType> {
  if (requests) return requests
  const require = createRequire(import.meta.url)
  const collector = require('@opentelemetry/otlp-transformer/build/src/generated/root').opentelemetry.proto.collector
  requests = { metrics: collector.metrics.v1.ExportMetricsServiceRequest, traces: collector.trace.v1.ExportTraceServiceRequest, logs: collector.logs.v1.ExportLogsServiceRequest }
  return requests
}

/**
 * OTLP/JSON's mapping: 64-bit integers as decimal strings, enums as numbers,
 * fields left at their default absent; bytes come out base64 and the ids
 * are turned to hex below.
 */
const JSON_FORM = { longs: String, enums: Number, bytes: String, defaults: false }
const ID_FIELDS = ['traceId', 'spanId', 'parentSpanId'] as const

/** The body as OTLP/JSON would have carried it. Throws on bytes that are not a protobuf message of the signal's request. */
export function decodeProtobuf(signal: Signal, body: Uint8Array): Record<string, unknown> {
  const type = requestTypes()[signal]
  const decoded = type.toObject(type.decode(body), JSON_FORM)
  if (signal === 'traces') for (const span of nested(decoded, 'resourceSpans', 'scopeSpans', 'spans')) idsToHex(span)
  if (signal === 'logs') for (const record of nested(decoded, 'resourceLogs', 'scopeLogs', 'logRecords')) idsToHex(record)
  return decoded
}

/** The items three levels down (resource, scope, item). */
function* nested(root: Record<string, unknown>, ...keys: [string, string, string]): Generator<Record<string, unknown>> {
  for (const a of (root[keys[0]] as Record<string, unknown>[] | undefined) ?? []) {
    for (const b of (a[keys[1]] as Record<string, unknown>[] | undefined) ?? []) {
      yield* (b[keys[2]] as Record<string, unknown>[] | undefined) ?? []
    }
  }
}

function idsToHex(item: Record<string, unknown>): void {
  for (const field of ID_FIELDS) {
    const value = item[field]
    if (typeof value === 'string') item[field] = Buffer.from(value, 'base64').toString('hex')
  }
}
