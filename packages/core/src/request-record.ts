import { performance } from 'node:perf_hooks'
import type { ClientCall } from './client-calls.js'
import type { LayerClock } from './layer-clock.js'
import { contextFrom, type TraceContext } from './trace-context.js'

export interface SpanRecord {
  name: string
  /** A call out of the process (HTTP, a database), with its layer; else the app's own work. */
  client?: true
  /** Made when the span had to be named before its export: the `traceparent` of an outbound call. */
  spanId?: string
  /** Start, relative to the request's start, in ms. */
  offsetMs: number
  durationMs: number
  error?: string
  attributes?: Record<string, string | number | boolean>
}

/** Spans kept per request: a request that makes thousands of calls stays bounded. */
export const MAX_SPANS = 64

/** What ends a request's measurement: the instrumentation that started it. */
export interface RequestEnd {
  end(record: RequestRecord, aborted: boolean): void
}

/**
 * One request in flight: the central record every part of the agent reads or
 * names. Allocated once per request; spans only when made. Integrations name
 * it through `request-naming.ts`, never by writing its fields.
 */
export class RequestRecord {
  readonly start = performance.now()
  route: string | undefined = undefined
  /** The handler's name where the framework has one (Nest: `Controller.method`). */
  name: string | undefined = undefined
  error: unknown = undefined
  /** Route parameters, where the framework keeps them off `req` (Fastify). */
  params: Record<string, unknown> | undefined = undefined
  /** The app's spans and its calls out, in the order they ended (a call becomes a span on export). */
  spans: (SpanRecord | ClientCall)[] | undefined = undefined
  droppedSpans = 0
  done = false
  /** Started while the request context was off, so counted in `contextState.inFlight`. */
  countedInFlight = false
  /** The request and response while in flight (how `recordOf` tells it from the connection's next one); cleared at its end. */
  req: object | undefined = undefined
  res: object | undefined = undefined
  /** What ends it: the instrumentation that measured it. */
  owner: RequestEnd | undefined = undefined
  /** Its trace context, made at first need (`traceOf`). */
  trace: TraceContext | undefined = undefined
  /** Time inside each layer, from its first client call on. */
  layers: LayerClock | undefined = undefined
  /** How often each statement shape ran, per layer (`layerIndex`), from its first statement on. */
  statements: (Map<string, number> | undefined)[] | undefined = undefined
  constructor(readonly method: string, readonly url: string) {}

  get startEpochMs(): number {
    return performance.timeOrigin + this.start
  }

  addSpan(span: SpanRecord | ClientCall): void {
    if (this.done) return
    const spans = (this.spans ??= [])
    if (spans.length < MAX_SPANS) spans.push(span)
    else this.droppedSpans++
  }
}

/**
 * The request's trace context: the caller's (its `traceparent`) with a span id
 * of the request's own, or a new one. Made once, at first need, while the
 * request is in flight or at its end.
 */
export function traceOf(record: RequestRecord): TraceContext {
  if (record.trace !== undefined) return record.trace
  let headers: Record<string, unknown> | undefined
  try {
    headers = (record.req as { headers?: Record<string, unknown> } | undefined)?.headers
  } catch {
    // a request object of another kind: a trace of its own
  }
  return (record.trace = contextFrom(headers))
}
