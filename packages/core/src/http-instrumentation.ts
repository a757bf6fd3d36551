import dc from 'node:diagnostics_channel'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { RequestRecord, contextState, requestContext, type RequestEnd } from './tracer.js'

const START = 'http.server.request.start'
const FINISH = 'http.server.response.finish'

/**
 * Where a request's record is kept, shared by every copy of the agent.
 *
 * Not on req or res: Express swaps their prototypes on every request, so one
 * more own property there slows every later property access of Express's
 * (measured with callgrind: +19k instructions per request, against +4.5k here).
 * Not in a WeakMap entry per request either: ephemerons cost the GC (+8k on
 * Fastify). The connection's socket holds the record of the request it is
 * serving: after the connection's first request, one monomorphic store.
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

/** A connection that closes while its request is unanswered: the client went away. */
function onConnectionClose(this: SocketSlot): void {
  const record = this[kActive]
  if (record !== undefined && !record.done) record.owner?.end(record, true)
}

/** The response's own 'close': for pipelined requests, and for those no route named by 'finish'. */
function onResponseClose(this: ServerResponse): void {
  const record = recordOf(this.req)
  if (record !== undefined && !record.done) record.owner?.end(record, !this.writableFinished)
}

export interface HttpInstrumentationHooks {
  /** Paths not measured at all (health checks). */
  ignored(path: string): boolean
  onStart(record: RequestRecord, server: Server | undefined): void
  onFinish(record: RequestRecord, res: ServerResponse, aborted: boolean): void
}

/**
 * Measures every request of every HTTP server in the process from Node's own
 * diagnostics channels: no monkeypatching, and per request one record and no
 * listener (the response's end comes from the 'finish' channel, a client that
 * went away from one 'close' listener per connection). The framework
 * integrations only add the route template and errors to the record.
 */
export class HttpInstrumentation implements RequestEnd {
  private enabled = false
  private readonly onRequestStart = (message: unknown) => {
    const { request, response, server } = message as { request: IncomingMessage; response: ServerResponse; server?: Server }
    // Another copy of the agent in this process may have taken it already.
    if (recordOf(request) !== undefined) return
    const url = request.url ?? '/'
    if (this.hooks.ignored(url)) return
    const record = new RequestRecord(request.method ?? 'GET', url)
    record.req = request
    record.res = response
    record.owner = this
    const socket = request.socket as (Socket & SocketSlot) | null
    const active = socket?.[kActive]
    if (socket && (active === undefined || active.done)) {
      if (active === undefined) socket.on('close', onConnectionClose)
      socket[kActive] = record
    } else {
      pipelined.set(request, record)
      response.on('close', onResponseClose)
    }
    // The store set here is the one the request handler runs in.
    if (contextState.wanted) requestContext.enterWith(record)
    this.hooks.onStart(record, server)
  }

  private readonly onResponseFinish = (message: unknown) => {
    const { request, response } = message as { request: IncomingMessage; response: ServerResponse }
    const record = recordOf(request)
    if (record === undefined || record.done) return
    // Pipelined requests end at their response's 'close', already listened to.
    if ((request.socket as SocketSlot | null)?.[kActive] !== record) return
    // This channel runs before the response's own 'finish' listeners, where some
    // integrations name late (Fastify's onResponse): unnamed ones end at 'close'.
    if (record.route === undefined) response.on('close', onResponseClose)
    else record.owner?.end(record, false)
  }

  constructor(private readonly hooks: HttpInstrumentationHooks) {}

  end(record: RequestRecord, aborted: boolean): void {
    const req = record.req!
    const res = record.res as ServerResponse
    // A request that ends after the agent stopped is not counted.
    if (this.enabled) this.hooks.onFinish(record, res, aborted)
    record.done = true
    // The connection keeps the record until its next request, but not the request with it.
    record.req = record.res = undefined
    if ((req as { socket?: SocketSlot | null }).socket?.[kActive] !== record) pipelined.delete(req)
  }

  enable(): void {
    if (this.enabled) return
    this.enabled = true
    dc.subscribe(START, this.onRequestStart)
    dc.subscribe(FINISH, this.onResponseFinish)
  }

  disable(): void {
    if (!this.enabled) return
    this.enabled = false
    dc.unsubscribe(START, this.onRequestStart)
    dc.unsubscribe(FINISH, this.onResponseFinish)
  }
}
