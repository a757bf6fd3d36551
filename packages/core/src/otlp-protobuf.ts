import { ByteWriter } from './byte-writer.js'
import type { HistogramData } from './histogram.js'

/**
 * OTLP/HTTP protobuf (`http/protobuf`, OTLP's default protocol), written by
 * hand: no runtime dependency. The agent builds each payload once in OTLP's
 * JSON form (see otlp-encoder.ts); `writeMessage` writes such an object as
 * protobuf after the schema below (opentelemetry-proto 1.x field numbers),
 * and a metrics report's endpoint data points, most of its bytes, are
 * written straight into bytes by `ProtoEndpointPoints`.
 */

const VARINT = 0
const I64 = 1
const LEN = 2

const TWO_32 = 2 ** 32

/** The protobuf wire format's primitives, on a `ByteWriter`. */
export class ProtoWriter extends ByteWriter {
  /** A non-negative integer (exact up to 2^53). */
  varint(n: number): void {
    this.ensure(10)
    const buf = this.buf
    let p = this.pos
    if (n < 0x80000000) {
      while (n > 127) {
        buf[p++] = (n & 127) | 128
        n >>>= 7
      }
    } else {
      while (n > 127) {
        buf[p++] = (n % 128) | 128
        n = Math.floor(n / 128)
      }
    }
    buf[p++] = n
    this.pos = p
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire)
  }

  /** int64 as a varint: negatives take ten bytes (two's complement). */
  int64(n: number | bigint): void {
    if (typeof n === 'number' && n >= 0 && Number.isSafeInteger(n)) return this.varint(n)
    let v = BigInt.asUintN(64, toBigInt(n))
    this.ensure(10)
    while (v > 127n) {
      this.buf[this.pos++] = Number(v & 127n) | 128
      v >>= 7n
    }
    this.buf[this.pos++] = Number(v)
  }

  sint32(n: number): void {
    this.varint(((n << 1) ^ (n >> 31)) >>> 0)
  }

  /** A 64-bit integer, little-endian: numbers up to 2^53 directly, larger ones (nanoseconds) as bigint. */
  fixed64(n: number | bigint): void {
    this.ensure(8)
    if (typeof n === 'number' && n >= 0 && Number.isSafeInteger(n)) {
      // Byte by byte: Buffer's writeUInt32LE checks its arguments, which costs more here than the writing.
      const buf = this.buf
      const p = this.pos
      const lo = n >>> 0
      const hi = (n - lo) / TWO_32
      buf[p] = lo
      buf[p + 1] = lo >>> 8
      buf[p + 2] = lo >>> 16
      buf[p + 3] = lo >>> 24
      buf[p + 4] = hi
      buf[p + 5] = hi >>> 8
      buf[p + 6] = hi >>> 16
      buf[p + 7] = hi >>> 24
    } else {
      this.buf.writeBigUInt64LE(BigInt.asUintN(64, toBigInt(n)), this.pos)
    }
    this.pos += 8
  }

  double(v: number): void {
    this.ensure(8)
    this.buf.writeDoubleLE(v, this.pos)
    this.pos += 8
  }

  /**
   * Opens a length-delimited field (the tag is written already): one byte is
   * kept for the length, and `endLen` moves the body on when it needs more.
   */
  beginLen(): number {
    this.ensure(1)
    return this.pos++
  }

  endLen(at: number): void {
    const length = this.pos - at - 1
    if (length < 128) {
      this.buf[at] = length
      return
    }
    const extra = varintSize(length) - 1
    this.ensure(extra)
    this.buf.copyWithin(at + 1 + extra, at + 1, this.pos)
    this.pos += extra
    const end = this.pos
    this.pos = at
    this.varint(length)
    this.pos = end
  }

  /** A string field. */
  string(field: number, s: string): void {
    this.tag(field, LEN)
    const at = this.beginLen()
    this.utf8(s)
    this.endLen(at)
  }
}

/** A value of a 64-bit field: a fraction cut off, and what is no number at all written as 0, never a throw. */
function toBigInt(n: number | bigint): bigint {
  if (typeof n === 'bigint') return n
  return Number.isFinite(n) ? BigInt(Math.trunc(n)) : 0n
}

function varintSize(n: number): number {
  let size = 1
  while (n >= 128) {
    n = Math.floor(n / 128)
    size++
  }
  return size
}

/** How a field is written; an object is a nested message (repeated when its JSON value is an array). */
type Kind = 'string' | 'bool' | 'enum' | 'uint32' | 'int64' | 'sint32' | 'fixed64' | 'sfixed64' | 'double' | 'hex' | 'packedUint64' | 'packedFixed64' | 'packedDouble' | Schema
/** A message: its JSON (lowerCamelCase) field names, each with its field number and kind. */
interface Schema { readonly [jsonName: string]: readonly [number, Kind] }

// opentelemetry/proto/common/v1: the agent sends scalar values only.
const ANY_VALUE: Schema = { stringValue: [1, 'string'], boolValue: [2, 'bool'], intValue: [3, 'int64'], doubleValue: [4, 'double'] }
const KEY_VALUE: Schema = { key: [1, 'string'], value: [2, ANY_VALUE] }
const RESOURCE: Schema = { attributes: [1, KEY_VALUE], droppedAttributesCount: [2, 'uint32'] }
const SCOPE: Schema = { name: [1, 'string'], version: [2, 'string'], attributes: [3, KEY_VALUE] }

// opentelemetry/proto/metrics/v1
const NUMBER_POINT: Schema = { attributes: [7, KEY_VALUE], startTimeUnixNano: [2, 'fixed64'], timeUnixNano: [3, 'fixed64'], asDouble: [4, 'double'], asInt: [6, 'sfixed64'], flags: [8, 'uint32'] }
const HISTOGRAM_POINT: Schema = {
  attributes: [9, KEY_VALUE], startTimeUnixNano: [2, 'fixed64'], timeUnixNano: [3, 'fixed64'], count: [4, 'fixed64'], sum: [5, 'double'],
  bucketCounts: [6, 'packedFixed64'], explicitBounds: [7, 'packedDouble'], flags: [10, 'uint32'], min: [11, 'double'], max: [12, 'double'],
}
const BUCKETS: Schema = { offset: [1, 'sint32'], bucketCounts: [2, 'packedUint64'] }
const EXPONENTIAL_POINT: Schema = {
  attributes: [1, KEY_VALUE], startTimeUnixNano: [2, 'fixed64'], timeUnixNano: [3, 'fixed64'], count: [4, 'fixed64'], sum: [5, 'double'], scale: [6, 'sint32'],
  zeroCount: [7, 'fixed64'], positive: [8, BUCKETS], negative: [9, BUCKETS], flags: [10, 'uint32'], min: [12, 'double'], max: [13, 'double'], zeroThreshold: [14, 'double'],
}
const METRIC: Schema = {
  name: [1, 'string'], description: [2, 'string'], unit: [3, 'string'],
  gauge: [5, { dataPoints: [1, NUMBER_POINT] }],
  sum: [7, { dataPoints: [1, NUMBER_POINT], aggregationTemporality: [2, 'enum'], isMonotonic: [3, 'bool'] }],
  histogram: [9, { dataPoints: [1, HISTOGRAM_POINT], aggregationTemporality: [2, 'enum'] }],
  exponentialHistogram: [10, { dataPoints: [1, EXPONENTIAL_POINT], aggregationTemporality: [2, 'enum'] }],
}
export const METRICS_REQUEST: Schema = {
  resourceMetrics: [1, { resource: [1, RESOURCE], scopeMetrics: [2, { scope: [1, SCOPE], metrics: [2, METRIC], schemaUrl: [3, 'string'] }], schemaUrl: [3, 'string'] }],
}

// opentelemetry/proto/trace/v1
const SPAN: Schema = {
  traceId: [1, 'hex'], spanId: [2, 'hex'], traceState: [3, 'string'], parentSpanId: [4, 'hex'], name: [5, 'string'], kind: [6, 'enum'],
  startTimeUnixNano: [7, 'fixed64'], endTimeUnixNano: [8, 'fixed64'], attributes: [9, KEY_VALUE], status: [15, { message: [2, 'string'], code: [3, 'enum'] }],
}
export const TRACES_REQUEST: Schema = {
  resourceSpans: [1, { resource: [1, RESOURCE], scopeSpans: [2, { scope: [1, SCOPE], spans: [2, SPAN], schemaUrl: [3, 'string'] }], schemaUrl: [3, 'string'] }],
}

// opentelemetry/proto/logs/v1
const LOG_RECORD: Schema = {
  timeUnixNano: [1, 'fixed64'], severityNumber: [2, 'enum'], severityText: [3, 'string'], body: [5, ANY_VALUE], attributes: [6, KEY_VALUE],
  traceId: [9, 'hex'], spanId: [10, 'hex'], observedTimeUnixNano: [11, 'fixed64'],
}
export const LOGS_REQUEST: Schema = {
  resourceLogs: [1, { resource: [1, RESOURCE], scopeLogs: [2, { scope: [1, SCOPE], logRecords: [2, LOG_RECORD], schemaUrl: [3, 'string'] }], schemaUrl: [3, 'string'] }],
}

/**
 * Where a repeated field's JSON value is one marker string, the bytes of its
 * entries, written already (a metrics report's data points): true when `marker` was one.
 */
export type Splice = (w: ProtoWriter, marker: string) => boolean

/** Writes `message`, an OTLP object in its JSON form, as protobuf. A key the schema does not know is a bug of the agent: it throws. */
export function writeMessage(w: ProtoWriter, message: object, schema: Schema, splice?: Splice): void {
  for (const key in message) {
    const value = (message as Record<string, unknown>)[key]
    if (value === undefined) continue
    const field = schema[key]
    if (field === undefined) throw new Error(`OTLP field ${key} has no protobuf number here`)
    const [number, kind] = field
    if (typeof kind === 'object') {
      if (!Array.isArray(value)) {
        nested(w, number, value as object, kind, splice)
        continue
      }
      if (splice && value.length === 1 && typeof value[0] === 'string' && splice(w, value[0])) continue
      for (const item of value) nested(w, number, item as object, kind, splice)
      continue
    }
    scalar(w, number, kind, value)
  }
}

function nested(w: ProtoWriter, number: number, value: object, schema: Schema, splice: Splice | undefined): void {
  w.tag(number, LEN)
  const at = w.beginLen()
  writeMessage(w, value, schema, splice)
  w.endLen(at)
}

/** JSON's 64-bit integers are decimal strings (numbers accepted). */
const int = (v: unknown): number | bigint => (typeof v === 'string' ? BigInt(v) : (v as number))

function scalar(w: ProtoWriter, number: number, kind: Exclude<Kind, Schema>, value: unknown): void {
  switch (kind) {
    case 'string':
      return w.string(number, value as string)
    case 'hex': {
      w.tag(number, LEN)
      const bytes = Buffer.from(value as string, 'hex')
      w.varint(bytes.length)
      return w.bytes(bytes)
    }
    case 'bool':
      w.tag(number, VARINT)
      return w.byte(value ? 1 : 0)
    case 'enum':
    case 'uint32':
      w.tag(number, VARINT)
      return w.varint(value as number)
    case 'int64':
      w.tag(number, VARINT)
      return w.int64(int(value))
    case 'sint32':
      w.tag(number, VARINT)
      return w.sint32(value as number)
    case 'fixed64':
    case 'sfixed64':
      w.tag(number, I64)
      return w.fixed64(int(value))
    case 'double':
      w.tag(number, I64)
      // JSON writes a non-finite number as null.
      return w.double(value === null ? NaN : (value as number))
    case 'packedUint64':
    case 'packedFixed64':
    case 'packedDouble': {
      const items = value as (number | string)[]
      if (items.length === 0) return
      w.tag(number, LEN)
      const at = w.beginLen()
      for (const item of items) {
        if (kind === 'packedUint64') w.int64(int(item))
        else if (kind === 'packedFixed64') w.fixed64(int(item))
        else w.double(item as number)
      }
      return w.endLen(at)
    }
  }
}

/** Nanoseconds since the epoch of a time in ms, as OTLP's fixed64. */
export function nanosBigint(ms: number): bigint {
  return BigInt(Math.round(ms * 1000)) * 1000n
}

/** One KeyValue of a string value: its length and body, written after the attributes field's tag. */
function keyValueEntry(w: ProtoWriter, key: string, value: string): void {
  const at = w.beginLen()
  w.string(1, key)
  w.tag(2, LEN)
  const anyAt = w.beginLen()
  w.string(1, value)
  w.endLen(anyAt)
  w.endLen(at)
}

/** The data points of one metric, as entries of its `data_points` field (number 1 in Sum, Gauge, ExponentialHistogram). */
const POINT_TAG = (1 << 3) | LEN
/** The attributes field of NumberDataPoint and of ExponentialHistogramDataPoint. */
export const NUMBER_ATTRIBUTE_TAG = (7 << 3) | LEN
export const EXPONENTIAL_ATTRIBUTE_TAG = (1 << 3) | LEN
const AS_INT_TAG = (6 << 3) | I64
const AS_DOUBLE_TAG = (4 << 3) | I64

/** Endpoint attributes and time stamps, written once and copied into each point that has them. */
export class ProtoPointParts {
  /** Attributes written for the points of one interval, never rewritten. */
  private readonly scratch = new ProtoWriter(4096)
  /** start_time_unix_nano and time_unix_nano, fields 2 and 3 in both point messages. */
  readonly times: Buffer

  constructor(start: bigint, end: bigint) {
    const w = new ProtoWriter(18)
    w.tag(2, I64)
    w.fixed64(start)
    w.tag(3, I64)
    w.fixed64(end)
    this.times = Buffer.from(w.result())
  }

  /**
   * String attributes as entries of a point's attributes field (`tag`), for
   * copying into each point that has them. A view: the scratch writer only
   * ever writes past it (a larger buffer leaves this one as it is).
   */
  attributes(tag: number, pairs: readonly (readonly [string, string])[]): Buffer {
    const w = this.scratch
    const start = w.pos
    for (const [key, value] of pairs) {
      w.byte(tag)
      keyValueEntry(w, key, value)
    }
    return w.buf.subarray(start, w.pos)
  }
}

/** A NumberDataPoint entry: attributes, the interval's times, and an int or a double. */
export function writeNumberPoint(w: ProtoWriter, attributes: Buffer, times: Buffer, value: number, isInt: boolean): void {
  w.byte(POINT_TAG)
  const at = w.beginLen()
  w.bytes(attributes)
  w.bytes(times)
  if (isInt) {
    w.byte(AS_INT_TAG)
    w.fixed64(value)
  } else {
    w.byte(AS_DOUBLE_TAG)
    w.double(value)
  }
  w.endLen(at)
}

/** An ExponentialHistogramDataPoint entry, positive buckets only (latencies). */
export function writeExponentialPoint(w: ProtoWriter, attributes: Buffer, times: Buffer, scale: number, h: HistogramData): void {
  w.byte(POINT_TAG)
  const at = w.beginLen()
  w.bytes(attributes)
  w.bytes(times)
  w.byte((4 << 3) | I64)
  w.fixed64(h.count)
  w.byte((5 << 3) | I64)
  w.double(h.sum)
  w.byte((6 << 3) | VARINT)
  w.sint32(scale)
  w.byte((7 << 3) | I64)
  w.fixed64(h.zeroCount)
  w.byte((8 << 3) | LEN)
  const bucketsAt = w.beginLen()
  w.byte((1 << 3) | VARINT)
  w.sint32(h.offset)
  const counts = h.counts
  if (counts.length > 0) {
    w.byte((2 << 3) | LEN)
    const countsAt = w.beginLen()
    const n = counts.length
    w.ensure(n)
    let buf = w.buf
    let p = w.pos
    for (let i = 0; i < n; i++) {
      const v = counts[i]!
      if (v >= 0 && v < 128) {
        buf[p++] = v
      } else {
        w.pos = p
        w.int64(v)
        w.ensure(n - i)
        buf = w.buf
        p = w.pos
      }
    }
    w.pos = p
    w.endLen(countsAt)
  }
  w.endLen(bucketsAt)
  if (h.count > 0) {
    w.byte((12 << 3) | I64)
    w.double(h.min)
    w.byte((13 << 3) | I64)
    w.double(h.max)
  }
  w.endLen(at)
}
