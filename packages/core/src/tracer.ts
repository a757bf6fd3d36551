import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'

export interface SpanRecord {
  name: string
  /** Start, relative to the request's start, in ms. */
  offsetMs: number
  durationMs: number
  error?: string
  attributes?: Record<string, string | number | boolean>
}

/** Spans kept per request: a request that makes thousands of calls stays bounded. */
export const MAX_SPANS = 64

export interface RequestEnd {
  end(record: RequestRecord, aborted: boolean): void
}

/** One request in flight. Allocated once per request; spans only when made. */
export class RequestRecord {
  readonly start = performance.now()
  route: string | undefined = undefined
  /** The handler's name where the framework has one (Nest: `Controller.method`). */
  name: string | undefined = undefined
  error: unknown = undefined
  /** Route parameters, where the framework keeps them off `req` (Fastify). */
  params: Record<string, unknown> | undefined = undefined
  spans: SpanRecord[] | undefined = undefined
  droppedSpans = 0
  done = false
  /** The request and response while in flight (how `recordOf` tells it from the connection's next one); cleared at its end. */
  req: object | undefined = undefined
  res: object | undefined = undefined
  /** What ends it: the instrumentation that measured it. */
  owner: RequestEnd | undefined = undefined
  constructor(readonly method: string, readonly url: string) {}

  get startEpochMs(): number {
    return performance.timeOrigin + this.start
  }

  addSpan(span: SpanRecord): void {
    if (this.done) return
    const spans = (this.spans ??= [])
    if (spans.length < MAX_SPANS) spans.push(span)
    else this.droppedSpans++
  }
}

/** The request context: which request the running code works for. */
export const requestContext = new AsyncLocalStorage<RequestRecord>()

/**
 * Whether requests enter the context. On Node 20 AsyncLocalStorage runs on
 * async hooks, which tax every promise of the app; so the context is entered
 * only once the app has asked for a span (its first span is not recorded).
 */
export const contextState = { wanted: false }

export function currentRequest(): RequestRecord | undefined {
  return requestContext.getStore()
}

export interface ActiveSpan {
  end(error?: unknown): void
}

const noopSpan: ActiveSpan = { end() {} }

/** Times a piece of work as a child span of the current request, if any. */
export function startSpan(name: string, attributes?: SpanRecord['attributes']): ActiveSpan {
  contextState.wanted = true
  const request = requestContext.getStore()
  if (request === undefined) return noopSpan
  const startedAt = performance.now()
  let ended = false
  return {
    end(error?: unknown) {
      if (ended) return
      ended = true
      const span: SpanRecord = { name, offsetMs: startedAt - request.start, durationMs: performance.now() - startedAt }
      if (attributes) span.attributes = attributes
      if (error !== undefined) span.error = error instanceof Error ? error.message : String(error)
      request.addSpan(span)
    },
  }
}

/** A finished slow request, ready to export as a trace. */
export interface TraceRecord {
  traceId: string
  spanId: string
  /** Root span name; `METHOD route` by default. */
  name?: string
  method: string
  route: string
  url: string
  status: number
  startEpochMs: number
  durationMs: number
  error?: string
  aborted: boolean
  spans: SpanRecord[]
  droppedSpans: number
}

export function newTraceIds(spans: number): { traceId: string; spanIds: string[] } {
  const bytes = randomBytes(16 + 8 * (spans + 1))
  const spanIds: string[] = []
  for (let i = 0; i <= spans; i++) spanIds.push(bytes.subarray(16 + 8 * i, 24 + 8 * i).toString('hex'))
  return { traceId: bytes.subarray(0, 16).toString('hex'), spanIds }
}

/** Keeps the slowest requests of an interval, at most `limit`. */
export class SlowTraceBuffer {
  private traces: TraceRecord[] = []
  dropped = 0

  constructor(private readonly limit: number) {}

  add(trace: TraceRecord): void {
    if (this.traces.length < this.limit) {
      this.traces.push(trace)
      return
    }
    let fastest = 0
    for (let i = 1; i < this.traces.length; i++) if (this.traces[i]!.durationMs < this.traces[fastest]!.durationMs) fastest = i
    this.dropped++
    if (this.traces[fastest]!.durationMs < trace.durationMs) this.traces[fastest] = trace
  }

  drain(): TraceRecord[] {
    const out = this.traces
    this.traces = []
    return out
  }
}
