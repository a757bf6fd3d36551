import { randomFillSync } from 'node:crypto'

/**
 * A request's place in a distributed trace (W3C Trace Context): its trace id,
 * its own (root) span id, and the caller's span and `tracestate` when the
 * request came with a `traceparent`. Made only when something needs it: an
 * outbound call to propagate, a trace to export.
 */
export interface TraceContext {
  traceId: string
  spanId: string
  parentSpanId?: string
  traceState?: string
  /** The caller's trace-flags byte, passed on unchanged (`01`: sampled). */
  flags: string
}

export const TRACEPARENT = 'traceparent'
export const TRACESTATE = 'tracestate'

// version "-" trace-id "-" parent-id "-" trace-flags; a future version may add fields after a "-".
const TRACEPARENT_FORMAT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ALL_ZERO = /^0+$/
/** The spec's limit is 32 list members of at most 256 characters; a longer header is dropped, not cut. */
const MAX_TRACESTATE = 512

/** The caller's context from its headers; undefined (and no error) for anything the spec calls invalid. */
export function parseTraceparent(traceparent: unknown, tracestate?: unknown): Omit<TraceContext, 'spanId'> | undefined {
  if (typeof traceparent !== 'string' || traceparent.length < 55) return undefined
  const match = TRACEPARENT_FORMAT.exec(traceparent.trim())
  if (match === null) return undefined
  const [, version, traceId, parentSpanId, flags, rest] = match
  // Version ff is invalid; version 00 has exactly four fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined
  if (ALL_ZERO.test(traceId!) || ALL_ZERO.test(parentSpanId!)) return undefined
  const context: Omit<TraceContext, 'spanId'> = { traceId: traceId!, parentSpanId: parentSpanId!, flags: flags! }
  const state = Array.isArray(tracestate) ? tracestate.join(',') : tracestate
  if (typeof state === 'string' && state.length > 0 && state.length <= MAX_TRACESTATE) context.traceState = state
  return context
}

/** The `traceparent` header of a call made from span `spanId` of `trace`. */
export function formatTraceparent(trace: TraceContext, spanId: string): string {
  return `00-${trace.traceId}-${spanId}-${trace.flags}`
}

/**
 * Random ids come from a pool of 4 KB read at once and turned into hex at
 * once: one system call and one conversion per 512 span ids, and an id is a
 * slice of that string.
 */
const pool = Buffer.alloc(4096)
let hexPool = ''
let used = 0

function randomHex(bytes: number): string {
  const chars = bytes * 2
  for (;;) {
    if (used + chars > hexPool.length) {
      randomFillSync(pool)
      hexPool = pool.toString('hex')
      used = 0
    }
    const hex = hexPool.slice(used, (used += chars))
    // An all-zero id is invalid; at 2^-64 it is a formality, checked past the first digit only when that is 0.
    if (hex.charCodeAt(0) !== 48 || !ALL_ZERO.test(hex)) return hex
  }
}

export const newSpanId = (): string => randomHex(8)
export const newTraceId = (): string => randomHex(16)

/** A context of its own for a request no caller sent one with, or the caller's with a span id for this request. */
export function contextFrom(headers: { [TRACEPARENT]?: unknown; [TRACESTATE]?: unknown } | undefined): TraceContext {
  const caller = headers ? parseTraceparent(headers[TRACEPARENT], headers[TRACESTATE]) : undefined
  if (caller !== undefined) return { ...caller, spanId: newSpanId() }
  return { traceId: newTraceId(), spanId: newSpanId(), flags: '01' }
}
