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
