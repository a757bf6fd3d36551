import dc from 'node:diagnostics_channel'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { RequestRecord, contextState, requestContext } from './tracer.js'

const START = 'http.server.request.start'

/**
 * Where the request's record lives on req and res, shared by every copy of the
 * agent. A symbol property, not a WeakMap: measured, a WeakMap entry per
 * request and response cost Fastify 4 us and 15 MB more (ephemerons in GC).
 */
const kRecord = Symbol.for('@agent/core.request-record')
type WithRecord = { [kRecord]?: RequestRecord }

export function recordOf(reqOrRes: object): RequestRecord | undefined {
  return (reqOrRes as WithRecord)[kRecord]
}

export interface HttpInstrumentationHooks {
  /** Paths not measured at all (health checks). */
  ignored(path: string): boolean
  onStart(record: RequestRecord, server: Server | undefined): void
  onFinish(record: RequestRecord, res: ServerResponse, aborted: boolean): void
}

/**
 * Measures every request of every HTTP server in the process from Node's own
 * diagnostics channel: no monkeypatching, nothing per request but one record
 * and one 'close' listener. The framework integrations only add the route
 * template and errors to the record.
 */
export class HttpInstrumentation {
  private enabled = false
  private readonly onRequestStart = (message: unknown) => {
    const { request, response, server } = message as { request: IncomingMessage & WithRecord; response: ServerResponse & WithRecord; server?: Server }
    if (request[kRecord] !== undefined) return
    const url = request.url ?? '/'
    if (this.hooks.ignored(url)) return
    const record = new RequestRecord(request.method ?? 'GET', url)
    request[kRecord] = record
    response[kRecord] = record
    response.on('close', this.onResponseClose)
    // The store set here is the one the request handler runs in.
    if (contextState.wanted) requestContext.enterWith(record)
    this.hooks.onStart(record, server)
  }
  /** Shared by every response: `this` is the response, so nothing is allocated per request. */
  private readonly onResponseClose: (this: ServerResponse & WithRecord) => void

  constructor(private readonly hooks: HttpInstrumentationHooks) {
    this.onResponseClose = function () {
      const record = this[kRecord]
      if (record === undefined || record.done) return
      hooks.onFinish(record, this, !this.writableFinished)
      record.done = true
    }
  }

  enable(): void {
    if (this.enabled) return
    this.enabled = true
    dc.subscribe(START, this.onRequestStart)
  }

  disable(): void {
    if (!this.enabled) return
    this.enabled = false
    dc.unsubscribe(START, this.onRequestStart)
  }
}
