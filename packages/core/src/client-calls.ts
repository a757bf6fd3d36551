import { performance } from 'node:perf_hooks'
import { LAYERS, LayerClock, type Layer } from './layer-clock.js'
import { currentRequest } from './request-context.js'
import { traceOf, type RequestRecord, type SpanRecord } from './request-record.js'
import { formatTraceparent, newSpanId } from './trace-context.js'

type Attributes = Record<string, string | number | boolean>

/**
 * What every call to one peer has in common: a database client's server and
 * database, an HTTP origin. Instrumentations make it once per client or
 * origin where they can and share it; a call copies nothing from it unless
 * its span is exported.
 */
export interface CallPeer {
  /** Span attributes of the peer (`db.system.name`, `server.address`, `server.port`, `db.namespace`). */
  readonly attributes: Readonly<Attributes>
  /** An HTTP peer's origin as its URLs give it: `url.full` is this and the call's path. */
  readonly origin?: string
}

/**
 * One call out of the process on behalf of a request: an outbound HTTP
 * request or a database command. Counts in its request's time by layer and,
 * once ended, is one of its spans. It holds only what it was given: the
 * span's attributes are made if it is exported (`toSpan`), which most calls
 * never are (only slow requests' and N+1 examples' spans leave the process).
 */
export class ClientCall {
  /** Start, relative to the request's start, in ms. */
  private readonly offsetMs: number
  /** Its layer's index (`LAYERS`). */
  private readonly layerAt: number
  private durationMs = -1
  /** Made when the call had to be named before its export: for its `traceparent`. */
  private spanId: string | undefined = undefined
  private error: string | undefined = undefined
  /** An HTTP call's response status. */
  private status = 0

  /**
   * @param name the span's name: the operation (`SELECT`, `GET`)
   * @param statement the statement's shape, every literal removed: counted for N+1 detection
   * @param path an HTTP call's path as the app gave it (its query is dropped on export)
   */
  constructor(
    private readonly request: RequestRecord,
    private readonly layer: Layer,
    private readonly name: string,
    private readonly statement: string | undefined,
    private readonly peer: CallPeer,
    private readonly path: string | undefined,
  ) {
    const startedAt = performance.now()
    this.offsetMs = startedAt - request.start
    // An index lookup, not `layerIndex[layer]`: a keyed load that sees several names goes megamorphic.
    const layerAt = (this.layerAt = LAYERS.indexOf(layer))
    ;(request.layers ??= new LayerClock()).begin(layerAt, startedAt)
    if (statement !== undefined) {
      const statements = ((request.statements ??= [])[layerAt] ??= new Map<string, number>())
      statements.set(statement, (statements.get(statement) ?? 0) + 1)
    }
  }

  /** The `traceparent` header for this call: the request's trace, this call's span as the parent. */
  traceparent(): string {
    return formatTraceparent(traceOf(this.request), (this.spanId ??= newSpanId()))
  }

  get traceState(): string | undefined {
    return this.request.trace?.traceState
  }

  /** Ends the call, with an HTTP call's response status if it has one. Idempotent. */
  end(error?: unknown, status = 0): void {
    if (this.durationMs >= 0) return
    const request = this.request
    // A call that outlives its request (fire and forget) is not part of it; nor is the request's start its to read.
    if (request.done) {
      this.durationMs = 0
      return
    }
    const now = performance.now()
    this.durationMs = now - request.start - this.offsetMs
    request.layers!.end(this.layerAt, now)
    this.status = status
    // Its class or code, not its message: a driver's message may quote a value ("Duplicate entry 'a@b.c'").
    if (error !== undefined) this.error = errorType(error)
    // An HTTP client call fails at 4xx and 5xx (OpenTelemetry's conventions).
    else if (status >= 400) this.error = String(status)
    request.addSpan(this)
  }

  /** The span as exported: the peer's attributes and the call's own. */
  toSpan(): SpanRecord {
    const attributes: Attributes = { ...this.peer.attributes, 'agent.layer': this.layer }
    if (this.layer === 'http') {
      attributes['http.request.method'] = this.name
      if (this.peer.origin !== undefined && this.path !== undefined) attributes['url.full'] = this.peer.origin + withoutQuery(this.path)
      if (this.status !== 0) attributes['http.response.status_code'] = this.status
    } else {
      attributes['db.operation.name'] = this.name
      if (this.statement !== undefined) attributes['db.query.text'] = this.statement
    }
    const span: SpanRecord = { name: this.name, client: true, offsetMs: this.offsetMs, durationMs: this.durationMs, attributes }
    if (this.spanId !== undefined) span.spanId = this.spanId
    if (this.error !== undefined) span.error = attributes['error.type'] = this.error
    return span
  }
}

/** A URL's path without its query: the query holds values. */
function withoutQuery(path: string): string {
  const q = path.indexOf('?')
  return q === -1 ? path : path.slice(0, q)
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
 * (nothing to do) outside any request. Never throws. See `ClientCall`'s
 * constructor for the arguments.
 */
export function startClientCall(layer: Layer, name: string, statement: string | undefined, peer: CallPeer, path?: string): ClientCall | undefined {
  try {
    const request = currentRequest()
    return request === undefined ? undefined : new ClientCall(request, layer, name, statement, peer, path)
  } catch {
    return undefined
  }
}
