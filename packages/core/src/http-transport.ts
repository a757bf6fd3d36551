import { EventEmitter } from 'node:events'
import net from 'node:net'
import tls from 'node:tls'
import { ResponseError, ResponseReader } from './http-response-reader.js'

export interface SendOptions {
  /** From the start of the request (DNS included) to a connected socket. */
  connectTimeoutMs: number
  /** From the start of the request to the end of the response body. */
  totalTimeoutMs: number
  headers: Record<string, string>
  ca?: string | Buffer
}

export interface SendResult {
  status: number
  body: string
  retryAfterMs?: number
}

export type FailureKind = 'connect-timeout' | 'timeout' | 'network' | 'tls' | 'aborted'

export class SendError extends Error {
  constructor(readonly kind: FailureKind, message: string, readonly code?: string) {
    super(message)
  }
}

/** The code of a send that met a plain-http server with TLS: a wrong endpoint, not an untrusted certificate. */
export const PLAIN_HTTP = 'ERR_SSL_WRONG_VERSION_NUMBER'

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_REJECTED',
])

/**
 * Answers are read only to report errors: at most this much of any body is
 * read, then the socket is let go. A collector that answers with a huge or
 * endless body costs the app nothing more.
 */
const MAX_BODY = 4096
/** Bytes of an answer read at a time. */
const READ_SIZE = 4096
/** After a 2xx (already a success), how long its body may take to end before the socket is let go. */
const SUCCESS_BODY_GRACE_MS = 250
/** Idle connections kept (to any collector), and how long one may idle before it is closed rather than reused. */
const MAX_IDLE = 2
const IDLE_MS = 30_000
/** The code of an answer that is not HTTP/1.x (as Node's parser names such errors). */
export const NOT_HTTP = 'HPE_INVALID'

/** A request in flight: `ref` keeps the process alive for it (final flush). */
export interface PendingSend {
  done: Promise<SendResult>
  ref(): void
  abort(): void
}

/**
 * Why the exporter speaks HTTP/1.1 on a socket of its own instead of through
 * `http.request`: Node's `OutgoingMessage`, `IncomingMessage` and parser code
 * is shared with the app's server, and a client request in the same process
 * shows V8 objects of other shapes at the same call sites; from the first
 * export on, every response of the app paid for it (callgrind, a Fastify
 * request: 68k to 70k instructions with `http.request`, 65k to 66k with this
 * socket, 64.4k with no export at all). The app's `http.client.request.start`
 * subscribers (and the agent's own outbound instrumentation) never see an
 * export either.
 */
interface Exchange {
  data(chunk: Buffer): void
  ended(): void
  failed(err: NodeJS.ErrnoException): void
}

/**
 * One socket to a collector, with its listeners for life: they forward to the send using it, or close
 * it while it idles. They are added with EventEmitter's own `on`, and a plain-http answer arrives
 * through net's `onread` callback (TLS through 'data'): less of Node's stream code, which the app's
 * server runs on every request, meets the exporter's socket (callgrind, Fastify: about 0.15k
 * instructions per request less; the socket's construction and writes still cost about 0.7k).
 */
class Connection {
  exchange: Exchange | undefined = undefined
  /** Called once the socket is connected (and secured): the send waiting for it clears its connect deadline. */
  connected: (() => void) | undefined = undefined
  idleSince = 0
  constructor(readonly socket: net.Socket, readonly key: string, readonly ca: string | Buffer | undefined) {
    const on = EventEmitter.prototype.on
    const secure = socket instanceof tls.TLSSocket
    if (secure) socket.on('data', (chunk: Buffer) => this.data(chunk))
    on.call(socket, secure ? 'secureConnect' : 'connect', () => this.connected?.())
    on.call(socket, 'end', () => (this.exchange ? this.exchange.ended() : this.close()))
    on.call(socket, 'close', () => {
      this.exchange?.ended()
      forget(this)
    })
    // Always listened to: an 'error' with no listener would be thrown into the app.
    on.call(socket, 'error', (err: NodeJS.ErrnoException) => (this.exchange ? this.exchange.failed(err) : this.close()))
  }

  data(chunk: Buffer): void {
    if (this.exchange) this.exchange.data(chunk)
    else this.close()
  }

  close(): void {
    this.exchange = undefined
    forget(this)
    this.socket.destroy()
  }
}

const idle: Connection[] = []

function forget(connection: Connection): void {
  const at = idle.indexOf(connection)
  if (at !== -1) idle.splice(at, 1)
}

function keyOf(url: URL): string {
  return `${url.protocol}//${url.host}`
}

/** An idle connection to this collector, if one is fresh and still open. */
function takeIdle(url: URL, ca: string | Buffer | undefined): Connection | undefined {
  const key = keyOf(url)
  for (let i = idle.length - 1; i >= 0; i--) {
    const c = idle[i]!
    if (c.key !== key || c.ca !== ca) continue
    idle.splice(i, 1)
    if (Date.now() - c.idleSince < IDLE_MS && !c.socket.destroyed && c.socket.writable) return c
    c.close()
  }
  return undefined
}

/** Keeps a connection whose last answer ended cleanly, for the next send. */
function release(connection: Connection): void {
  connection.exchange = undefined
  connection.idleSince = Date.now()
  connection.socket.unref()
  idle.push(connection)
  while (idle.length > MAX_IDLE) idle.shift()!.close()
}

function connect(url: URL, ca: string | Buffer | undefined): Connection {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  const isHttps = url.protocol === 'https:'
  const port = Number(url.port) || (isHttps ? 443 : 80)
  let connection: Connection | undefined
  // A buffer of its own for each read: the reader may keep a chunk (an error's body).
  const onread = {
    buffer: () => Buffer.allocUnsafe(READ_SIZE),
    callback: (n: number, buf: Buffer) => {
      connection!.data(buf.subarray(0, n))
      return true // keep reading
    },
  }
  const socket = isHttps ? tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...(ca !== undefined ? { ca } : {}) }) : net.connect({ host, port, onread })
  return (connection = new Connection(socket, keyOf(url), ca))
}

/** Parses Retry-After (seconds or an HTTP date) into ms, bounded. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  const seconds = Number(value)
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now
  if (!Number.isFinite(ms)) return undefined
  return Math.min(Math.max(ms, 0), 300_000)
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
// A header value HTTP allows: no CR, LF or other control characters, nothing beyond latin1.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/**
 * The request line and headers; throws on a header HTTP does not allow (it
 * could split the request). Credentials in the endpoint's URL are sent as
 * Basic authorization, as `http.request` does, unless a header gives one.
 */
function requestHead(url: URL, length: number, headers: Record<string, string>): string {
  let head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`
  let authorized = false
  for (const name of Object.keys(headers)) {
    const value = String(headers[name])
    if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(value)) throw new SendError('network', `the header "${name}" has a character HTTP does not allow in its name or value; fix it in "headers"`, 'ERR_INVALID_CHAR')
    const lower = name.toLowerCase()
    if (lower === 'authorization') authorized = true
    if (lower !== 'content-length' && lower !== 'host') head += `${name}: ${value}\r\n`
  }
  if (!authorized && (url.username !== '' || url.password !== '')) {
    head += `authorization: Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}\r\n`
  }
  return `${head}content-length: ${length}\r\n\r\n`
}

function failureOf(err: NodeJS.ErrnoException): SendError {
  const code = err.code ?? ''
  // A plain-http server answering a TLS handshake is a wrong endpoint, not an untrusted certificate.
  // OpenSSL reports it as EPROTO with "wrong version number": it gets the one code every reader checks.
  const plainHttp = code === PLAIN_HTTP || /wrong version number/i.test(err.message)
  const kind: FailureKind = !plainHttp && (TLS_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) ? 'tls' : 'network'
  return new SendError(kind, err.message, plainHttp ? PLAIN_HTTP : code)
}

/**
 * One POST with connect and total deadlines, on a kept-alive connection where
 * one is idle. Sockets and timers are unref'd unless `ref()` is called, so an
 * export in flight never keeps the app alive.
 */
export function send(url: URL, body: Buffer, options: SendOptions, startRef = false): PendingSend {
  let connection: Connection | undefined
  let referenced = startRef
  const timers: NodeJS.Timeout[] = []
  let fail: (err: SendError) => void = () => {}

  const done = new Promise<SendResult>((resolve, reject) => {
    let settled = false
    const finish = (fn: () => void) => {
      if (settled) return
      settled = true
      for (const t of timers) clearTimeout(t)
      fn()
    }
    fail = (err) => {
      connection?.close()
      finish(() => reject(err))
    }
    const timer = (ms: number, onFire: () => void) => {
      const t = setTimeout(onFire, ms)
      if (!referenced) t.unref()
      timers.push(t)
      return t
    }

    let head: string
    try {
      head = requestHead(url, body.length, options.headers)
      connection = takeIdle(url, options.ca) ?? connect(url, options.ca)
    } catch (err) {
      finish(() => reject(err instanceof SendError ? err : new SendError('network', (err as Error).message, (err as NodeJS.ErrnoException).code)))
      return
    }
    const c = connection
    const socket = c.socket
    if (referenced) socket.ref()
    else socket.unref()

    const connectTimer = timer(options.connectTimeoutMs, () => fail(new SendError('connect-timeout', `no connection within ${options.connectTimeoutMs} ms`)))
    if (socket.connecting) c.connected = () => clearTimeout(connectTimer)
    else clearTimeout(connectTimer)
    let answered: (() => void) | undefined
    timer(options.totalTimeoutMs, () => (answered ? answered() : fail(new SendError('timeout', `no complete response within ${options.totalTimeoutMs} ms`))))

    let status = 0
    let retryAfterMs: number | undefined
    const chunks: Buffer[] = []
    let size = 0
    let grace: NodeJS.Timeout | undefined
    const text = () => Buffer.concat(chunks).toString('utf8', 0, Math.min(size, MAX_BODY))
    const result = (): SendResult => ({ status, body: status >= 200 && status < 300 ? '' : text(), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) })
    const reader = new ResponseReader({
      head(code, headers) {
        status = code
        retryAfterMs = parseRetryAfter(headers.get('retry-after'))
        // A 2xx is a success from its status line on: the payload arrived, and
        // whatever its body does next can never make it count as failed.
        if (status >= 200 && status < 300) {
          finish(() => resolve(result()))
          grace = setTimeout(() => c.close(), SUCCESS_BODY_GRACE_MS)
          grace.unref()
        }
        // A status line that came in time settles the send at the deadline, even if its body trickles.
        answered = () => {
          c.close()
          finish(() => resolve(result()))
        }
      },
      body(chunk) {
        if (size < MAX_BODY) chunks.push(chunk)
        size += chunk.length
        if (size > MAX_BODY) {
          // Enough to report it; the rest is not read.
          c.close()
          finish(() => resolve(result()))
        }
      },
      end(reusable) {
        clearTimeout(grace)
        finish(() => resolve(result()))
        if (reusable && c.exchange !== undefined) release(c)
        else c.close()
      },
    })
    c.exchange = {
      data(chunk) {
        try {
          reader.push(chunk)
        } catch (err) {
          fail(new SendError('network', `the answer is not HTTP/1.1 (${(err as Error).message})`, NOT_HTTP))
        }
      },
      ended() {
        try {
          reader.closed()
        } catch (err) {
          if (!(err instanceof ResponseError)) throw err
          fail(status === 0 ? new SendError('network', 'socket hang up', 'ECONNRESET') : new SendError('network', 'response aborted'))
        }
      },
      failed(err) {
        fail(failureOf(err))
      },
    }
    // One write of both (no small segment left waiting on Nagle's algorithm for the server's delayed ACK).
    socket.cork()
    socket.write(head, 'latin1')
    socket.write(body)
    socket.uncork()
  })

  return {
    done,
    ref() {
      if (referenced) return
      referenced = true
      connection?.socket.ref()
      for (const t of timers) t.ref()
    },
    abort() {
      fail(new SendError('aborted', 'aborted at the shutdown deadline'))
    },
  }
}
