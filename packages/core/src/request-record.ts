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
  declare readonly method: string
  declare readonly url: string
  declare readonly start: number
  declare route: string | undefined
  /** The handler's name where the framework has one (Nest: `Controller.method`). */
  declare name: string | undefined
  declare error: unknown
  /** Route parameters, where the framework keeps them off `req` (Fastify). */
  declare params: Record<string, unknown> | undefined
  /** The app's spans and its calls out, in the order they ended (a call becomes a span on export). */
  declare spans: (SpanRecord | ClientCall)[] | undefined
  declare droppedSpans: number
  declare done: boolean
  /** Started while the request context was off, so counted in `contextState.inFlight`. */
  declare countedInFlight: boolean
  /** The request and response while in flight (how `recordOf` tells it from the connection's next one); cleared at its end. */
  declare req: object | undefined
  declare res: object | undefined
  /** What ends it: the instrumentation that measured it. */
  declare owner: RequestEnd | undefined
  /** Its trace context, made at first need (`traceOf`). */
  declare trace: TraceContext | undefined
  /** Time inside each layer, from its first client call on. */
  declare layers: LayerClock | undefined
  /** How often each statement shape ran, per layer (`layerIndex`), from its first statement on. */
  declare statements: (Map<string, number> | undefined)[] | undefined
  // Fields are declared and assigned here, not initialised in the class body: an ES2022 class field
  // is defined property by property, a cost every request pays (callgrind: 0.16k on Fastify, 0.4k on Express).
  constructor(method: string, url: string) {
    this.method = method
    this.url = url
    this.start = performance.now()
    this.route = undefined
    this.name = undefined
    this.error = undefined
    this.params = undefined
    this.spans = undefined
    this.droppedSpans = 0
    this.done = false
    this.countedInFlight = false
    this.req = undefined
    this.res = undefined
    this.owner = undefined
    this.trace = undefined
    this.layers = undefined
    this.statements = undefined
  }

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
