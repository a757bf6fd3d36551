import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'

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
/** After a 2xx (already a success), how long its body may take to end before the socket is let go. */
const SUCCESS_BODY_GRACE_MS = 250

/** A request in flight: `ref` keeps the process alive for it (final flush). */
export interface PendingSend {
  done: Promise<SendResult>
  ref(): void
  abort(): void
}

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 2, keepAliveMsecs: 1000 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 2, keepAliveMsecs: 1000 }),
}

/** The agent for a collector with a CA of its own (`caFile`): one, for the one CA configured. */
let caAgent: { ca: string | Buffer; agent: https.Agent } | undefined

function httpsAgentFor(ca: string | Buffer | undefined): https.Agent {
  if (ca === undefined) return agents.https
  if (caAgent?.ca !== ca) {
    caAgent?.agent.destroy()
    caAgent = { ca, agent: new https.Agent({ keepAlive: true, maxSockets: 2, keepAliveMsecs: 1000, ca }) }
  }
  return caAgent.agent
}

/** Whether an outbound request is the agent's own export (never measured as the app's call). */
export function isTransportAgent(agent: unknown): boolean {
  return agent === agents.http || agent === agents.https || (caAgent !== undefined && agent === caAgent.agent)
}

/** Parses Retry-After (seconds or an HTTP date) into ms, bounded. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  const seconds = Number(value)
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now
  if (!Number.isFinite(ms)) return undefined
  return Math.min(Math.max(ms, 0), 300_000)
}

/**
 * One POST with connect and total deadlines. Sockets and timers are unref'd
 * unless `ref()` is called, so an export in flight never keeps the app alive.
 */
export function send(url: URL, body: Buffer, options: SendOptions, startRef = false): PendingSend {
  let request: http.ClientRequest | undefined
  let socket: Socket | undefined
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
    fail = (err) => finish(() => {
      request?.destroy()
      reject(err)
    })
    const timer = (ms: number, onFire: () => void) => {
      const t = setTimeout(onFire, ms)
      if (!referenced) t.unref()
      timers.push(t)
      return t
    }

    const isHttps = url.protocol === 'https:'
    const lib = isHttps ? https : http
    try {
      request = lib.request(url, {
        method: 'POST',
        agent: isHttps ? httpsAgentFor(options.ca) : agents.http,
        headers: { ...options.headers, 'content-length': String(body.length) },
      })
    } catch (err) {
      finish(() => reject(new SendError('network', (err as Error).message, (err as NodeJS.ErrnoException).code)))
      return
    }

    const connectTimer = timer(options.connectTimeoutMs, () => fail(new SendError('connect-timeout', `no connection within ${options.connectTimeoutMs} ms`)))
    let answered: (() => void) | undefined
    timer(options.totalTimeoutMs, () => (answered ? answered() : fail(new SendError('timeout', `no complete response within ${options.totalTimeoutMs} ms`))))

    request.on('socket', (s: Socket) => {
      socket = s
      if (referenced) s.ref()
      else s.unref()
      const connected = () => clearTimeout(connectTimer)
      if (s.connecting) s.once(isHttps ? 'secureConnect' : 'connect', connected)
      else connected()
    })
    request.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? ''
      // A plain-http server answering a TLS handshake is a wrong endpoint, not an untrusted certificate.
      // OpenSSL reports it as EPROTO with "wrong version number": it gets the one code every reader checks.
      const plainHttp = code === PLAIN_HTTP || /wrong version number/i.test(err.message)
      const kind: FailureKind = !plainHttp && (TLS_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) ? 'tls' : 'network'
      fail(new SendError(kind, err.message, plainHttp ? PLAIN_HTTP : code))
    })
    request.on('response', (res) => {
      const status = res.statusCode ?? 0
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'] as string | undefined)
      const result = (text: string): SendResult => ({ status, body: text, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) })
      const chunks: Buffer[] = []
      let size = 0
      const text = () => Buffer.concat(chunks).toString('utf8', 0, Math.min(size, MAX_BODY))
      // A 2xx is a success from its status line on: the payload arrived, and
      // whatever its body does next can never make it count as failed.
      if (status >= 200 && status < 300) {
        finish(() => resolve(result('')))
        const letGo = setTimeout(() => request?.destroy(), SUCCESS_BODY_GRACE_MS)
        letGo.unref()
        res.on('end', () => clearTimeout(letGo))
      }
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_BODY) chunks.push(chunk)
        size += chunk.length
        if (size > MAX_BODY) {
          // Enough to report it; the rest is not read.
          finish(() => resolve(result(text())))
          request?.destroy()
        }
      })
      res.on('error', (err) => fail(new SendError('network', err.message)))
      res.on('aborted', () => fail(new SendError('network', 'response aborted')))
      res.on('end', () => finish(() => resolve(result(text()))))
      // A status line that came in time settles the send at the deadline, even if its body trickles.
      answered = () => finish(() => {
        request?.destroy()
        resolve(result(text()))
      })
    })
    request.end(body)
  })

  return {
    done,
    ref() {
      if (referenced) return
      referenced = true
      socket?.ref()
      for (const t of timers) t.ref()
    },
    abort() {
      fail(new SendError('aborted', 'aborted at the shutdown deadline'))
    },
  }
}
