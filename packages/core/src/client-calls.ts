import { performance } from 'node:perf_hooks'
import { LayerClock, layerIndex, type Layer } from './layer-clock.js'
import { currentRequest } from './request-context.js'
import { traceOf, type RequestRecord, type SpanRecord } from './request-record.js'
import { formatTraceparent, newSpanId } from './trace-context.js'

/** What a client instrumentation knows of a call when it starts. */
export interface ClientCallStart {
  layer: Layer
  /** The span's name: the operation (`SELECT`, `GET`). */
  name: string
  /** The statement's shape, every literal removed: counted for N+1 detection. */
  statement?: string
  attributes: Record<string, string | number | boolean>
}

/**
 * One call out of the process on behalf of a request: an outbound HTTP
 * request or a database command. Counts in its request's time by layer and,
 * once ended, is one of its spans.
 */
export class ClientCall {
  private readonly startedAt = performance.now()
  private ended = false
  private spanId: string | undefined = undefined

  constructor(private readonly request: RequestRecord, private readonly start: ClientCallStart) {
    const clock = (request.layers ??= new LayerClock())
    clock.begin(layerIndex[start.layer], this.startedAt)
    if (start.statement !== undefined) {
      const statements = (request.statements ??= new Map())
      const key = `${start.layer}\t${start.statement}`
      statements.set(key, (statements.get(key) ?? 0) + 1)
    }
  }

  /** The `traceparent` header for this call: the request's trace, this call's span as the parent. */
  traceparent(): string {
    return formatTraceparent(traceOf(this.request), (this.spanId ??= newSpanId()))
  }

  get traceState(): string | undefined {
    return this.request.trace?.traceState
  }

  /** Ends the call; attributes known only now (a status code) are added. Idempotent. */
  end(error?: unknown, attributes?: Record<string, string | number | boolean>): void {
    if (this.ended) return
    this.ended = true
    const request = this.request
    // A call that outlives its request (fire and forget) is not part of it.
    if (request.done) return
    const now = performance.now()
    request.layers!.end(layerIndex[this.start.layer], now)
    // One copy: the start's attributes may be shared by the instrumentation.
    const spanAttributes: Record<string, string | number | boolean> = { ...this.start.attributes, 'agent.layer': this.start.layer }
    if (attributes !== undefined) Object.assign(spanAttributes, attributes)
    const span: SpanRecord = { name: this.start.name, client: true, offsetMs: this.startedAt - request.start, durationMs: now - this.startedAt, attributes: spanAttributes }
    if (this.spanId !== undefined) span.spanId = this.spanId
    // A database's statement shape; an HTTP call's shape is only for N+1 counting (its URL is `url.full`).
    if (this.start.statement !== undefined && this.start.layer !== 'http') spanAttributes['db.query.text'] = this.start.statement
    if (error !== undefined) {
      // Its class or code, not its message: a driver's message may quote a value ("Duplicate entry 'a@b.c'").
      span.error = spanAttributes['error.type'] = errorType(error)
    }
    request.addSpan(span)
  }
}

/** `error.type` as the conventions give it: the error's code or class, never its message. */
function errorType(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const code = (error as { code?: unknown }).code
    if (typeof code === 'string' || typeof code === 'number') return String(code)
    const name = (error as { name?: unknown }).name
    if (typeof name === 'string') return name
  }
  return '_OTHER'
}

/**
 * Starts a client call for the request the running code works for; undefined
 * (nothing to do) outside any request. Never throws.
 */
export function startClientCall(start: ClientCallStart): ClientCall | undefined {
  try {
    const request = currentRequest()
    return request === undefined ? undefined : new ClientCall(request, start)
  } catch {
    return undefined
  }
}
