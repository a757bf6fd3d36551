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

/**
 * What a request's start says of it, kept in an object that outlives it: a
 * connection's slot, rewritten in place by each of its requests. No write
 * allocates or takes the write barrier's slow path (the time is a number
 * written into its box, the method one of Node's own strings, the
 * instrumentation long-lived), where fields of the record's own would cost
 * 32 bytes a request.
 */
export interface RequestStart {
  /** `performance.now()` at its start. */
  start: number
  method: string
  /** The instrumentation that measures it (none for a job). */
  owner?: RequestEnd
}

/** A start of its own, now (a job's, a test's). */
export function startNow(method: string): RequestStart {
  return { start: performance.now(), method }
}

/** What ends a request's measurement: the instrumentation that started it. */
export interface RequestEnd {
  end(record: RequestRecord, res: object | undefined, aborted: boolean): void
}

/** What few requests have: an error, spans, calls out, a trace context. Made at the first write of any of it. */
class RareFields {
  name: string | undefined = undefined
  error: unknown = undefined
  spans: (SpanRecord | ClientCall)[] | undefined = undefined
  droppedSpans = 0
  trace: TraceContext | undefined = undefined
  layers: LayerClock | undefined = undefined
  statements: (Map<string, number> | undefined)[] | undefined = undefined
}

/**
 * One request in flight: the central record every part of the agent reads or
 * names. Allocated once per request, with the fields every request writes;
 * the rest (`RareFields`) only for the requests that have any of it. What
 * can be found elsewhere is not kept: the response comes with each way a
 * request ends, Fastify's params are found again for the rare request kept
 * as an error or a trace, it is done when it lets its request go, and its
 * start time, method and instrumentation are its connection's
 * (`RequestStart`): 64 bytes a request (160 and a 16-byte box at first). Integrations name it through `request-naming.ts`,
 * never by writing its fields.
 */
export class RequestRecord {
  declare readonly url: string
  declare private readonly started: RequestStart
  declare route: string | undefined
  /**
   * The request while in flight (how `recordOf` tells it from the connection's next one); cleared at
   * its end, which makes the record `done` (a flag of its own would be 8 bytes a request).
   */
  declare req: object | undefined
  declare private rare: RareFields | undefined
  // Fields are declared and assigned here, not initialised in the class body: an ES2022 class field
  // is defined property by property, a cost every request pays (callgrind: 0.16k on Fastify, 0.4k on Express).
  /** `started`: its connection's slot, with this request's start written (or `startNow`). */
  constructor(url: string, started: RequestStart) {
    this.url = url
    this.started = started
    this.route = undefined
    this.req = undefined
    this.rare = undefined
  }

  /** What ends it: the instrumentation that measured it (none for a job). */
  get owner(): RequestEnd | undefined {
    return this.started.owner
  }

  /**
   * When it started (`performance.now()`). Read while it is in flight: a connection's next request
   * rewrites it, as it does `method`.
   */
  get start(): number {
    return this.started.start
  }

  get method(): string {
    return this.started.method
  }

  /** The handler's name where the framework gives it while the request runs (Nest's guard, on platform-fastify). */
  get name(): string | undefined {
    return this.rare?.name
  }

  set name(name: string | undefined) {
    this.rareFields.name = name
  }

  /** Ended: its request let go (a job's record, which has none, keeps a flag). */
  get done(): boolean {
    return this.req === undefined
  }

  private get rareFields(): RareFields {
    return (this.rare ??= new RareFields())
  }

  /** The error it failed with (the first noted). */
  get error(): unknown {
    return this.rare?.error
  }

  set error(error: unknown) {
    this.rareFields.error = error
  }

  /** The app's spans and its calls out, in the order they ended (a call becomes a span on export). */
  get spans(): (SpanRecord | ClientCall)[] | undefined {
    return this.rare?.spans
  }

  get droppedSpans(): number {
    return this.rare?.droppedSpans ?? 0
  }

  /** Its trace context, made at first need (`traceOf`). */
  get trace(): TraceContext | undefined {
    return this.rare?.trace
  }

  set trace(trace: TraceContext | undefined) {
    this.rareFields.trace = trace
  }

  /** Time inside each layer, from its first client call on. */
  get layers(): LayerClock | undefined {
    return this.rare?.layers
  }

  set layers(layers: LayerClock | undefined) {
    this.rareFields.layers = layers
  }

  /** How often each statement shape ran, per layer (`layerIndex`), from its first statement on. */
  get statements(): (Map<string, number> | undefined)[] | undefined {
    return this.rare?.statements
  }

  set statements(statements: (Map<string, number> | undefined)[] | undefined) {
    this.rareFields.statements = statements
  }

  get startEpochMs(): number {
    return performance.timeOrigin + this.start
  }

  addSpan(span: SpanRecord | ClientCall): void {
    if (this.done) return
    const rare = this.rareFields
    const spans = (rare.spans ??= [])
    if (spans.length < MAX_SPANS) spans.push(span)
    else rare.droppedSpans++
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
