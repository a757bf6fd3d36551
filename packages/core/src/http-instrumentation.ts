import dc from 'node:diagnostics_channel'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { contextState, requestContext } from './request-context.js'
import { RequestRecord, type RequestEnd, type RequestStart } from './request-record.js'
import type { RequestRecorder } from './request-recorder.js'
import { kConnections, kPipelinedRequests as kPipelined } from './symbols.js'

const START = 'http.server.request.start'
const FINISH = 'http.server.response.finish'

/**
 * Where a request's record is kept, shared by every copy of the agent.
 *
 * Not on req or res: Express swaps their prototypes on every request, so one
 * more own property there slows every later property access of Express's
 * (measured with callgrind: +19k instructions per request). Not on the
 * socket either: Node's socket then carries a symbol of the agent's that the
 * app can list (it cost no fewer instructions: callgrind, Fastify, 65.9k
 * against 65.7k here). Not in a WeakMap entry per request (ephemerons cost
 * the GC: +8k on Fastify), but one per connection: its socket's slot, found
 * again at the response's end. Requests pipelined behind one still in
 * flight, the rare case, go to a WeakMap of their own, each with a slot of
 * its own.
 */
class RecordSlot implements RequestStart {
  /** The record of the request it serves (or served last). */
  record: RequestRecord | undefined = undefined
  /** That request's start, method and instrumentation, written in place by each request (see `RequestStart`). */
  start = performance.now()
  method: string
  owner: RequestEnd

  constructor(method: string, owner: RequestEnd) {
    this.method = method
    this.owner = owner
  }
}
const shared = globalThis as { [kConnections]?: WeakMap<object, RecordSlot>; [kPipelined]?: WeakMap<object, RequestRecord> }
const connections = (shared[kConnections] ??= new WeakMap<object, RecordSlot>())
const pipelined = (shared[kPipelined] ??= new WeakMap<object, RequestRecord>())

/**
 * The request that started last (in `contextState.latest`) is, in the common
 * case, the one a framework asks about, found by identity without reading
 * from `req` (with Express every request object has a map of its own, so any
 * read from it misses V8's caches).
 */
export function recordOf(req: object): RequestRecord | undefined {
  const last = contextState.latest?.record
  if (last !== undefined && last.req === req) return last
  try {
    // Not `req.socket`: a read from Express's request misses V8's caches (see route-map.ts of @agent/express).
    const socket = Reflect.get(req, 'socket') as object | null | undefined
    const active = socket ? connections.get(socket)?.record : undefined
    if (active !== undefined && active.req === req) return active
    return pipelined.get(req)
  } catch {
    return undefined // a request object of another kind, whose socket getter throws
  }
}

/**
 * A connection that closes while its request is unanswered: the client went
 * away. Its response is the one Node has attached to the socket (`_httpMessage`,
 * which Node's own 'close' handling of the response reads).
 */
function onConnectionClose(this: object): void {
  const record = connections.get(this)?.record
  if (record === undefined || record.done) return
  const res = (this as { _httpMessage?: unknown })._httpMessage
  record.owner?.end(record, typeof res === 'object' && res !== null ? res : undefined, true)
}

/** The response's own 'close': for pipelined requests. */
function onResponseClose(this: ServerResponse): void {
  const req = this.req
  const record = recordOf(req)
  if (record !== undefined && !record.done) record.owner?.end(record, this, !this.writableFinished)
  pipelined.delete(req)
}

/** Told of each request's start (implemented by `Agent`: a standing-by agent starts, a cluster worker watches the server). */
export interface RequestStartObserver {
  onRequestStart(server: Server | undefined): void
}

/**
 * Measures every request of every HTTP server in the process from Node's own
 * diagnostics channels: no monkeypatching, and per request one record. In the
 * common case no listener either: the response's end comes from the 'finish'
 * channel and a client that went away from one 'close' listener per
 * connection; only a request pipelined behind one still in flight gets a
 * 'close' listener on its response. The framework integrations only name the
 * request (request-naming.ts); its end goes to the `RequestRecorder`.
 */
export class HttpInstrumentation implements RequestEnd {
  private enabled = false
  /** The body is the subscriber's own: V8 did not inline a method called from it (a frame a request, 36 instructions). */
  private readonly onRequestStart = (message: unknown) => {
    // Node rethrows a subscriber's error as uncaught: nothing here may throw.
    try {
      const { request, response, server } = message as { request: IncomingMessage; response: ServerResponse; server?: Server }
      const socket = request.socket as Socket | null
      let slot = socket ? connections.get(socket) : undefined
      const active = slot?.record
      // Another copy of the agent in this process may have taken it already:
      // then it is its connection's record, or, behind one in flight, a pipelined one.
      if (active !== undefined && (active.req === request || (!active.done && pipelined.has(request)))) return
      if (socket === null && recordOf(request) !== undefined) return
      const url = request.url ?? '/'
      if (this.recorder.ignores(url)) return
      const method = request.method ?? 'GET'
      const behind = !socket || (active !== undefined && !active.done)
      if (behind) slot = new RecordSlot(method, this)
      else if (slot === undefined) {
        slot = new RecordSlot(method, this)
        connections.set(socket, slot)
        socket.on('close', onConnectionClose)
      } else {
        slot.start = performance.now()
        slot.method = method
        // Another copy of the agent may have served the connection's last request.
        slot.owner = this
      }
      const record = new RequestRecord(url, slot)
      record.req = request
      slot.record = record
      contextState.latest = slot
      if (behind) {
        pipelined.set(request, record)
        response.on('close', onResponseClose)
      }
      contextState.inFlight++
      // The store set here is the one the request handler runs in.
      if (contextState.wanted) requestContext.enterWith(record)
      this.starts.onRequestStart(server)
    } catch {
      // this request goes unmeasured; the app's request is untouched
    }
  }

  private readonly onResponseFinish = (message: unknown) => {
    // The socket from the message, not `request.socket`: by now Express has
    // swapped the request's prototype, and reading from it would miss V8's caches.
    const { request, response, socket } = message as { request: IncomingMessage; response: ServerResponse; socket?: object | null }
    const last = contextState.latest?.record
    const record = last !== undefined && last.req === request ? last : socket ? connections.get(socket)?.record : undefined
    // Pipelined requests end at their response's 'close', already listened to.
    if (record === undefined || record.req !== request || record.done) return
    // Named or not: a request no integration named is named at its end, by the
    // route resolvers (what the framework left on it) or by a bounded name.
    record.owner?.end(record, response, false)
  }

  constructor(private readonly recorder: Pick<RequestRecorder, 'ignores' | 'finish'>, private readonly starts: RequestStartObserver) {}

  end(record: RequestRecord, res: object | undefined, aborted: boolean): void {
    contextState.inFlight--
    try {
      // A request that ends after the agent stopped is not counted.
      if (this.enabled) this.recorder.finish(record, res as ServerResponse | undefined, aborted)
    } catch {
      // a measurement lost, never the app's response
    }
    // Done: the connection keeps the record until its next request, but not the request with it.
    record.req = undefined
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
