import dc from 'node:diagnostics_channel'
import http, { type ClientRequest, type IncomingMessage } from 'node:http'
import { startClientCall, type CallPeer, type ClientCall } from './client-calls.js'
import { normalizePath } from './endpoint-normalizer.js'
import { kImplicitHeaderWrapped } from './symbols.js'
import { TRACEPARENT, TRACESTATE } from './trace-context.js'

// Node's HTTP client. 'created' is published while headers can still be set
// (Node 22 and later); Node 20 publishes only 'start', after they are written.
const HTTP_CREATED = 'http.client.request.created'
const HTTP_RESPONSE = 'http.client.response.finish'
const HTTP_ERROR = 'http.client.request.error'
// undici, and Node's fetch built on it, publish these in every supported version.
const UNDICI_CREATE = 'undici:request:create'
const UNDICI_HEADERS = 'undici:request:headers'
const UNDICI_ERROR = 'undici:request:error'

/**
 * Outbound HTTP calls made on behalf of a request: each one carries the
 * request's `traceparent` and becomes a client span in the `http` layer, from
 * the call's start to its response's headers. Node's HTTP client and undici
 * (`fetch`) are read from their diagnostics channels; Node 20's HTTP client,
 * which publishes no channel while headers can still be set, gets one wrapper
 * on `ClientRequest.prototype._implicitHeader`, installed once, never raising.
 */
export class OutboundHttp {
  private enabled = false
  private readonly calls = new WeakMap<object, ClientCall>()

  private readonly onHttpCreated = (message: unknown) => {
    try {
      const request = (message as { request: ClientRequest }).request
      const call = this.startHttp(request)
      if (call !== undefined) this.inject(request, call)
    } catch {
      // the call goes unmeasured; the app's request is untouched
    }
  }

  private startHttp(request: ClientRequest): ClientCall | undefined {
    if (!this.enabled || this.calls.has(request)) return undefined
    const protocol = request.protocol ?? 'http:'
    const host = String(request.getHeader('host') ?? request.host)
    const port = Number(/:(\d+)$/.exec(host)?.[1] ?? (protocol === 'https:' ? 443 : 80))
    // An IPv6 address is written in brackets in a URL.
    const hostname = request.host.includes(':') && !request.host.startsWith('[') ? `[${request.host}]` : request.host
    const peer = peerOf(`${protocol}//${hostname}:${port}`)
    const call = startClientCall('http', request.method, peer.statementOf(request.method, request.path), peer, request.path)
    if (call !== undefined) this.calls.set(request, call)
    return call
  }

  private inject(request: ClientRequest, call: ClientCall): void {
    if (request.headersSent || request.hasHeader(TRACEPARENT)) return
    request.setHeader(TRACEPARENT, call.traceparent())
    const state = call.traceState
    if (state !== undefined && !request.hasHeader(TRACESTATE)) request.setHeader(TRACESTATE, state)
  }

  private readonly onHttpResponse = (message: unknown) => {
    const { request, response } = message as { request: ClientRequest; response: IncomingMessage }
    const call = this.calls.get(request)
    if (call === undefined) return
    this.calls.delete(request)
    call.end(undefined, response.statusCode ?? 0)
  }

  private readonly onHttpError = (message: unknown) => {
    const { request, error } = message as { request: object; error: unknown }
    const call = this.calls.get(request)
    if (call === undefined) return
    this.calls.delete(request)
    call.end(error ?? 'error')
  }

  private readonly onUndiciCreate = (message: unknown) => {
    try {
      const request = (message as { request: UndiciRequest }).request
      if (!this.enabled || this.calls.has(request)) return
      const peer = peerOf(String(request.origin))
      const call = startClientCall('http', request.method, peer.statementOf(request.method, request.path), peer, request.path)
      if (call === undefined) return
      this.calls.set(request, call)
      if (typeof request.addHeader !== 'function' || hasUndiciHeader(request.headers, TRACEPARENT)) return
      request.addHeader(TRACEPARENT, call.traceparent())
      const state = call.traceState
      if (state !== undefined && !hasUndiciHeader(request.headers, TRACESTATE)) request.addHeader(TRACESTATE, state)
    } catch {
      // the call goes unmeasured; the app's request is untouched
    }
  }

  private readonly onUndiciHeaders = (message: unknown) => {
    const { request, response } = message as { request: object; response: { statusCode: number } }
    const call = this.calls.get(request)
    if (call === undefined) return
    this.calls.delete(request)
    call.end(undefined, response.statusCode)
  }

  enable(): void {
    if (this.enabled) return
    this.enabled = true
    if (!wrapImplicitHeader(this)) dc.subscribe(HTTP_CREATED, this.onHttpCreated)
    dc.subscribe(HTTP_RESPONSE, this.onHttpResponse)
    dc.subscribe(HTTP_ERROR, this.onHttpError)
    dc.subscribe(UNDICI_CREATE, this.onUndiciCreate)
    dc.subscribe(UNDICI_HEADERS, this.onUndiciHeaders)
    dc.subscribe(UNDICI_ERROR, this.onHttpError)
  }

  disable(): void {
    if (!this.enabled) return
    this.enabled = false
    dc.unsubscribe(HTTP_CREATED, this.onHttpCreated)
    dc.unsubscribe(HTTP_RESPONSE, this.onHttpResponse)
    dc.unsubscribe(HTTP_ERROR, this.onHttpError)
    dc.unsubscribe(UNDICI_CREATE, this.onUndiciCreate)
    dc.unsubscribe(UNDICI_HEADERS, this.onUndiciHeaders)
    dc.unsubscribe(UNDICI_ERROR, this.onHttpError)
  }

  /** Node 20's path (see the class): the call starts when its headers are written. */
  beforeHeaders(request: ClientRequest): void {
    this.onHttpCreated({ request })
  }
}

interface UndiciRequest {
  origin: unknown
  method: string
  path: string
  headers: unknown
  addHeader?: (name: string, value: string) => void
}

/** undici keeps headers as a raw string (v5) or a flat [name, value, ...] list (v6 on). */
function hasUndiciHeader(headers: unknown, name: string): boolean {
  if (typeof headers === 'string') return new RegExp(`(^|\\r\\n)${name}:`, 'i').test(headers)
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) {
      const header = headers[i]
      // Only a name of the same length can match: most are not lower-cased at all.
      if (typeof header === 'string' && header.length === name.length && header.toLowerCase() === name) return true
    }
  }
  return false
}

/** Path shapes remembered over all peers (past it, every peer starts again), and the longest path remembered. */
const MAX_SHAPES = 2000
const MAX_SHAPED_PATH = 256
let shapesKept = 0

/**
 * An HTTP origin the app calls: its span attributes, made once, and the
 * statement shapes of the paths it was called with (an app calls the same
 * few paths again and again, and shaping a path is the dearest part of a call).
 */
class HttpPeer implements CallPeer {
  readonly attributes: Readonly<{ 'server.address': string; 'server.port': number }>
  /** `http://host:port` as the call's URL gave it (`url.full`'s origin). */
  readonly origin: string
  /** The same with the port always written: the statement shape's prefix. */
  private readonly base: string
  private readonly shapes = new Map<string, Map<string, string>>()

  constructor(url: URL) {
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
    // An IPv6 address without the brackets a URL writes it with.
    const address = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    this.attributes = { 'server.address': address, 'server.port': port }
    this.origin = `${url.protocol}//${url.host}`
    this.base = `${url.protocol}//${url.hostname}:${port}`
  }

  /** `GET http://host:port/items/:id`: the method, the origin and the path with its ids and query taken out. */
  statementOf(method: string, path: string): string {
    let byPath = this.shapes.get(method)
    if (byPath === undefined) this.shapes.set(method, (byPath = new Map()))
    let shape = byPath.get(path)
    if (shape === undefined) {
      shape = `${method} ${this.base}${normalizePath(path)}`
      if (path.length > MAX_SHAPED_PATH) return shape
      // Bounded: an app calling ever-new paths (an id or a query per call) cannot grow it.
      if (shapesKept >= MAX_SHAPES) forgetShapes()
      byPath.set(path, shape)
      shapesKept++
    }
    return shape
  }

  forget(): void {
    this.shapes.clear()
  }
}

function forgetShapes(): void {
  for (const peer of peers.values()) peer.forget()
  shapesKept = 0
}

/** The origins the app calls, parsed once. */
const peers = new Map<string, HttpPeer>()
const MAX_PEERS = 256

function peerOf(origin: string): HttpPeer {
  let peer = peers.get(origin)
  if (peer === undefined) {
    peer = new HttpPeer(new URL(origin))
    // Bounded: an app calling ever-new hosts cannot grow it.
    if (peers.size >= MAX_PEERS) {
      peers.clear()
      shapesKept = 0
    }
    peers.set(origin, peer)
  }
  return peer
}

/** Node versions whose HTTP client publishes 'created' need no wrapper. */
const hasCreatedChannel = (() => {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number]
  return major > 22 || (major === 22 && minor >= 12)
})()

type ImplicitHeaderProto = { _implicitHeader?: (this: ClientRequest) => void; [kImplicitHeaderWrapped]?: { target: OutboundHttp | undefined } }

/**
 * Node 20: one wrapper on `_implicitHeader`, the method that writes a client
 * request's headers, for every copy of the agent (the one whose instrumentation
 * is current is called). False where it is not needed or not possible.
 */
function wrapImplicitHeader(target: OutboundHttp): boolean {
  if (hasCreatedChannel) return false
  try {
    const proto = http.ClientRequest.prototype as unknown as ImplicitHeaderProto
    const existing = proto[kImplicitHeaderWrapped]
    if (existing !== undefined) {
      existing.target = target
      return true
    }
    const original = proto._implicitHeader
    if (typeof original !== 'function') return false
    const slot: { target: OutboundHttp | undefined } = { target }
    Object.defineProperty(proto, kImplicitHeaderWrapped, { value: slot })
    proto._implicitHeader = function implicitHeader(this: ClientRequest) {
      try {
        slot.target?.beforeHeaders(this)
      } catch {
        // never the app's request
      }
      return original.call(this)
    }
    return true
  } catch {
    return false
  }
}
