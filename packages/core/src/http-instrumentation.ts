import dc from 'node:diagnostics_channel'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { RequestRecord, contextState, requestContext } from './tracer.js'

const START = 'http.server.request.start'

/**
 * Where a request's record is kept, shared by every copy of the agent.
 *
 * Not on req or res: Express swaps their prototypes on every request, so one
 * more own property there slows every later property access of Express's
 * (measured with callgrind: +19k instructions per request against +3k here).
 * Not in a WeakMap entry per request either: ephemerons cost the GC (+8k on
 * Fastify). Instead the connection's socket holds the record of the request
 * it is serving, which after the first request is one monomorphic store.
 * Requests pipelined behind one still in flight, the rare case, go to a WeakMap.
 */
const kActive = Symbol.for('@agent/core.active-request')
const kPipelined = Symbol.for('@agent/core.pipelined-requests')
type SocketSlot = { [kActive]?: RequestRecord }
const shared = globalThis as { [kPipelined]?: WeakMap<object, RequestRecord> }
const pipelined = (shared[kPipelined] ??= new WeakMap<object, RequestRecord>())

export function recordOf(req: object): RequestRecord | undefined {
  const active = (req as { socket?: SocketSlot | null }).socket?.[kActive]
  if (active !== undefined && active.req === req) return active
  return pipelined.get(req)
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
    const { request, response, server } = message as { request: IncomingMessage; response: ServerResponse; server?: Server }
    // Another copy of the agent in this process may have taken it already.
    if (recordOf(request) !== undefined) return
    const url = request.url ?? '/'
    if (this.hooks.ignored(url)) return
    const record = new RequestRecord(request.method ?? 'GET', url)
    record.req = request
    const socket = request.socket as (IncomingMessage['socket'] & SocketSlot) | null
    const active = socket?.[kActive]
    if (socket && (active === undefined || active.done)) socket[kActive] = record
    else pipelined.set(request, record)
    response.on('close', this.onResponseClose)
    // The store set here is the one the request handler runs in.
    if (contextState.wanted) requestContext.enterWith(record)
    this.hooks.onStart(record, server)
  }
  /** Shared by every response: `this` is the response, so nothing is allocated per request. */
  private readonly onResponseClose: (this: ServerResponse) => void

  constructor(private readonly hooks: HttpInstrumentationHooks) {
    this.onResponseClose = function () {
      const req = this.req
      const record = recordOf(req)
      if (record === undefined || record.done) return
      hooks.onFinish(record, this, !this.writableFinished)
      record.done = true
      // The socket keeps the record until its next request: not the request with it.
      record.req = undefined
      if ((req.socket as SocketSlot | null)?.[kActive] !== record) pipelined.delete(req)
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
