import { gzip, gzipSync } from 'node:zlib'
import { promisify } from 'node:util'
import { readFileSync } from 'node:fs'
import type { AgentConfig, OtlpProtocol } from './config.js'
import { sendAtExit } from './exit-sender.js'
import { describeError } from './guards.js'
import type { Logger } from './logger.js'
import { NOT_HTTP, PLAIN_HTTP, send, SendError, type PendingSend, type SendResult } from './http-transport.js'

const gzipAsync = promisify(gzip)

/**
 * Bodies up to this size are gzip'd on the loop, in well under a millisecond (a
 * 16 KB report: about 0.25 ms, BENCHMARKS.md). zlib's threadpool form drives a
 * stream through Node's Readable and Writable code: in an app whose only streams
 * are its server's sockets, that one foreign kind of stream turns V8's feedback
 * in that shared code polymorphic and costs every later request about 0.5k
 * instructions (Fastify). Larger bodies still go to the threadpool: on the loop
 * they would stall requests for milliseconds.
 */
export const GZIP_ON_LOOP_MAX_BYTES = 16 * 1024

export type Signal = 'metrics' | 'traces' | 'logs'

export interface Payload {
  signal: Signal
  body: Buffer
  /** Requests counted in this payload, so a dropped one is counted by requests too. */
  requests: number
  /**
   * Sent as `x-agent-payload-id` with every try of this payload: the instance
   * id and a sequence number, so a collector can store a payload once even
   * when an answer was lost and the payload came again.
   */
  id: string
  /** Set on the payload that reports drops: its counts are owed again if it is rejected. */
  carries?: DropCounts
  /** Told once whether the payload was delivered (a 2xx) or given up (dropped and counted). */
  settled?: (delivered: boolean) => void
  firstTriedAt?: number
  attempts: number
}

/** The header that carries `Payload.id`. */
export const PAYLOAD_ID_HEADER = 'x-agent-payload-id'

export interface DropCounts {
  payloads: number
  requests: number
}

export interface ExporterOptions extends Pick<AgentConfig, 'endpoint' | 'key' | 'keyHeader' | 'connectTimeoutMs' | 'exportTimeoutMs' | 'maxQueue' | 'maxQueueBytes' | 'compressMinBytes'>, Partial<Pick<AgentConfig, 'headers' | 'protocol'>> {
  /** The CA to trust for an https endpoint (see `readCa`). */
  ca?: Buffer
  /** Payload ids start with it: the sender's instance id. */
  payloadIdPrefix?: string
  /** How long one payload is retried before it is dropped. */
  retryDeadlineMs?: number
  /** Encodes a metrics payload that reports drop counts to the collector. */
  encodeDrops?: (drops: DropCounts) => Buffer
}

/**
 * Whether a failed status may succeed on a later try: timeouts, rate limits
 * and server errors. Other 4xx (and 501) mean the payload or the key is wrong,
 * and a retry cannot help.
 */
export function isRetryable(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501)
}

const BACKOFF_BASE_MS = 250
const BACKOFF_MAX_MS = 30_000

export interface ExporterStats {
  sentPayloads: number
  sentRequests: number
  dropped: DropCounts
  /** Dropped, and not yet put on a payload to the collector. */
  unreported: DropCounts
  rejected: number
}

/**
 * Sends OTLP payloads one at a time from a bounded queue. When the queue is
 * full the oldest payload is dropped and counted; the counts ride on a later
 * payload and only stop being owed once that payload is acknowledged.
 * Retryable failures back off exponentially with full jitter, honouring
 * Retry-After; each failure kind is logged once per streak.
 */
export class Exporter {
  private readonly queue: Payload[] = []
  private queuedBytes = 0
  private inFlight: { payload: Payload; pending: PendingSend | undefined } | undefined
  private backoff: NodeJS.Timeout | undefined
  private backoffAttempt = 0
  /** Delivering against a deadline (`deliverUntil`): sockets and back-off keep the process alive meanwhile. */
  private delivering = false
  /** Set at process exit: payloads stay queued for `sendAtExit`. */
  private paused = false
  private failing = false
  /** The last export's failure, cause and fix, for the shutdown message; cleared by a success. */
  lastFailure: string | undefined = undefined
  private sequence = 0
  /** A drop report that was tried and not acknowledged. */
  private unsentReport: Payload | undefined = undefined
  private readonly waiters = new Set<() => void>()
  readonly stats: ExporterStats = { sentPayloads: 0, sentRequests: 0, dropped: { payloads: 0, requests: 0 }, unreported: { payloads: 0, requests: 0 }, rejected: 0 }
  private options!: ExporterOptions
  /** Where each signal goes; undefined without a valid endpoint, and then nothing is sent anywhere. */
  private urls: Record<Signal, URL> | undefined
  private headers: Record<string, string> = {}

  constructor(options: ExporterOptions, private readonly logger: Logger) {
    this.configure(options)
  }

  /** Takes new options (the configuration read again before a deferred start); what is queued stays. */
  configure(options: ExporterOptions): void {
    this.options = options
    const base = options.endpoint.replace(/\/+$/, '')
    try {
      this.urls = { metrics: new URL(`${base}/v1/metrics`), traces: new URL(`${base}/v1/traces`), logs: new URL(`${base}/v1/logs`) }
    } catch {
      this.urls = undefined
    }
    // The configured headers never replace the content type or the key.
    this.headers = { ...lowerCased(options.headers ?? {}), 'content-type': contentType(options.protocol ?? 'http/json'), 'user-agent': 'agent-node' }
    if (options.key) this.headers[options.keyHeader.toLowerCase()] = options.key
  }

  enqueue(payload: Omit<Payload, 'attempts' | 'id'>): void {
    if (this.urls === undefined) return
    const item: Payload = { ...payload, id: this.nextId(), attempts: 0 }
    this.queue.push(item)
    this.queuedBytes += item.body.length
    let dropped = 0
    // The payload in flight counts against both bounds: it is held in memory too.
    while (this.queue.length > 0 && (this.pendingCount > this.options.maxQueue || this.heldBytes > this.options.maxQueueBytes)) {
      this.evict(this.queue.shift()!)
      dropped++
    }
    if (dropped > 0) this.logger.reportOnce('queue-full', 'warn', 'AGENT_QUEUE_DROPPED', dropped, `${this.options.maxQueue} payloads or ${this.options.maxQueueBytes} bytes`)
    this.pump()
  }

  private nextId(): string {
    return `${this.options.payloadIdPrefix ?? 'agent'}-${++this.sequence}`
  }

  /** Takes a queued payload out to make room: counted as dropped. */
  private evict(payload: Payload): void {
    this.queuedBytes -= payload.body.length
    this.countDropped(payload)
    payload.settled?.(false)
  }

  /** Gives up on a payload that was tried: counted as dropped, or for a drop report, owed again. */
  private giveUp(payload: Payload): void {
    if (payload.carries) {
      this.stats.unreported.payloads += payload.carries.payloads
      this.stats.unreported.requests += payload.carries.requests
      return
    }
    this.countDropped(payload)
    payload.settled?.(false)
  }

  private countDropped(payload: Payload): void {
    this.stats.dropped.payloads++
    this.stats.dropped.requests += payload.requests
    this.stats.unreported.payloads++
    this.stats.unreported.requests += payload.requests
  }

  /**
   * A payload with the drop counts not yet reported, built when it is sent so
   * it carries every drop so far. It is never queued (so it cannot be dropped
   * for room). One that failed and may have arrived is sent again as it was,
   * under its id, so its counts can never arrive twice; one rejected is owed
   * again.
   */
  private dropReport(): Payload | undefined {
    if (this.unsentReport) return this.unsentReport
    const owed = this.stats.unreported
    if (!this.options.encodeDrops || (owed.payloads === 0 && owed.requests === 0)) return undefined
    const carries = { ...owed }
    owed.payloads = 0
    owed.requests = 0
    return (this.unsentReport = { signal: 'metrics', body: this.options.encodeDrops(carries), requests: 0, id: this.nextId(), carries, attempts: 0 })
  }

  private pump(): void {
    if (this.inFlight || this.backoff || this.paused) {
      this.settleWaiters()
      return
    }
    // Once the collector answers again, the drop counts go first.
    const report = this.failing ? undefined : this.dropReport()
    const payload = report ?? this.queue.shift()
    if (!payload) {
      // The queue has drained: a streak of drops is over, and the next one is said again.
      this.logger.forget('queue-full')
      this.settleWaiters()
      return
    }
    if (!report) this.queuedBytes -= payload.body.length
    this.inFlight = { payload, pending: undefined }
    void this.attempt(payload)
  }

  private async attempt(payload: Payload): Promise<void> {
    payload.attempts++
    payload.firstTriedAt ??= Date.now()
    const url = this.urls![payload.signal]
    let result: SendResult | undefined
    let error: SendError | undefined
    try {
      let body = payload.body
      const headers: Record<string, string> = { ...this.headers, [PAYLOAD_ID_HEADER]: payload.id }
      if (body.length >= this.options.compressMinBytes) {
        body = body.length <= GZIP_ON_LOOP_MAX_BYTES ? gzipSync(body) : await gzipAsync(body)
        headers['content-encoding'] = 'gzip'
      }
      const pending = send(url, body, { connectTimeoutMs: this.options.connectTimeoutMs, totalTimeoutMs: this.options.exportTimeoutMs, headers, ...(this.options.ca ? { ca: this.options.ca } : {}) }, this.delivering)
      this.inFlight!.pending = pending
      result = await pending.done
    } catch (err) {
      error = err instanceof SendError ? err : new SendError('network', (err as Error).message)
    }
    this.inFlight = undefined
    if (result && result.status >= 200 && result.status < 300) {
      this.onSuccess(payload, url)
    } else if (result && !isRetryable(result.status)) {
      this.stats.rejected++
      if (payload === this.unsentReport) this.unsentReport = undefined
      this.lastFailure = `the collector rejected a payload with HTTP ${result.status}; check "endpoint" and "key"`
      this.giveUp(payload)
      this.logger.reportOnce(`rejected:${result.status}`, 'warn', 'AGENT_EXPORT_REJECTED', url.origin + url.pathname, result.status, result.body.slice(0, 200))
      this.backoffAttempt = 0
    } else {
      this.onRetryable(payload, url, result, error)
    }
    this.pump()
  }

  private countSent(payload: Payload): void {
    this.stats.sentPayloads++
    this.stats.sentRequests += payload.requests
  }

  private onSuccess(payload: Payload, url: URL): void {
    this.countSent(payload)
    if (payload === this.unsentReport) this.unsentReport = undefined
    payload.settled?.(true)
    this.lastFailure = undefined
    this.backoffAttempt = 0
    if (this.failing) {
      this.failing = false
      this.logger.report('info', 'AGENT_EXPORT_RECOVERED', url.origin)
      this.forgetFailureKinds()
    }
  }

  private readonly failureKeys = new Set<string>()
  private forgetFailureKinds(): void {
    for (const key of this.failureKeys) this.logger.forget(key)
    this.failureKeys.clear()
  }

  private onRetryable(payload: Payload, url: URL, result: SendResult | undefined, error: SendError | undefined): void {
    this.failing = true
    const kind = error ? `${error.kind}:${error.code ?? ''}` : `http:${result!.status}`
    const key = `export:${kind}`
    this.failureKeys.add(key)
    if (error?.kind === 'tls') {
      this.logger.reportOnce(key, 'error', 'AGENT_TLS', url.origin, `${error.code ?? ''} ${error.message}`.trim())
    } else {
      const reason = error ? `${error.code ? error.code + ': ' : ''}${error.message}` : `HTTP ${result!.status}`
      const fix = failureFix(error)
      // Cut short by our own deadline says nothing of the collector: the cause before it stands.
      if (error?.kind !== 'aborted') this.lastFailure = `${reason}. ${fix}`
      this.logger.reportOnce(key, 'warn', 'AGENT_EXPORT_FAILED', url.origin + url.pathname, reason, fix)
    }
    if (error?.kind === 'tls') this.lastFailure = `TLS: ${error.message}; set "caFile" to the CA that signed the collector's certificate`
    const deadline = (payload.firstTriedAt ?? Date.now()) + (this.options.retryDeadlineMs ?? 600_000)
    if (payload.carries) {
      // Kept as it is (unsentReport): sent again under its id once the collector answers.
    } else if (Date.now() >= deadline) {
      this.giveUp(payload)
    } else if (this.queue.length >= this.options.maxQueue || this.queuedBytes + payload.body.length > this.options.maxQueueBytes) {
      // Newer data filled the queue meanwhile: the oldest goes.
      this.giveUp(payload)
    } else {
      // Back at the head, to keep the order.
      this.queue.unshift(payload)
      this.queuedBytes += payload.body.length
    }
    this.backoffAttempt++
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(this.backoffAttempt, 16))
    let wait = Math.random() * cap // full jitter
    if (result?.retryAfterMs !== undefined) wait = Math.max(wait, result.retryAfterMs)
    if (this.delivering) wait = Math.min(wait, 50)
    this.backoff = setTimeout(() => {
      this.backoff = undefined
      this.pump()
    }, wait)
    if (!this.delivering) this.backoff.unref()
  }

  /** Nothing queued, nothing in flight, and no drop count owed to the collector. */
  get idle(): boolean {
    const owed = this.options.encodeDrops ? this.stats.unreported.payloads + this.stats.unreported.requests : 0
    return this.queue.length === 0 && !this.inFlight && owed === 0 && this.unsentReport === undefined
  }

  private settleWaiters(): void {
    if (!this.idle) return
    for (const w of this.waiters) w()
    this.waiters.clear()
  }

  /**
   * Sends what is queued, keeping the process alive for it until `deadline`
   * (epoch ms) at most. Resolves true when everything was delivered.
   */
  async deliverUntil(deadline: number): Promise<boolean> {
    if (this.idle) return true
    this.delivering = true
    this.inFlight?.pending?.ref()
    if (this.backoff) {
      clearTimeout(this.backoff)
      this.backoff = undefined
    }
    this.pump()
    const remaining = deadline - Date.now()
    let timer: NodeJS.Timeout | undefined
    const delivered = await new Promise<boolean>((resolve) => {
      if (this.idle) return resolve(true)
      const done = () => resolve(true)
      this.waiters.add(done)
      timer = setTimeout(() => {
        this.waiters.delete(done)
        resolve(this.idle)
      }, Math.max(remaining, 0))
    })
    clearTimeout(timer)
    this.delivering = false
    if (!delivered) {
      // Past the budget: nothing of ours may keep the process alive.
      this.inFlight?.pending?.abort()
      ;(this.backoff as NodeJS.Timeout | undefined)?.unref()
    }
    return delivered
  }

  /** From now on payloads stay in the queue, for `sendAtExit`. */
  pause(): void {
    this.paused = true
  }

  /**
   * At `process.exit()`: sends the queued payloads synchronously through the
   * exit-time sender, within `timeoutMs`, and the payload in flight with
   * them: it may have arrived already, but it goes under its payload id,
   * which a collector stores once, while an exit cuts its send short.
   */
  sendAtExit(timeoutMs: number): boolean {
    const inFlight = this.inFlight?.payload
    const payloads = inFlight !== undefined ? [inFlight, ...this.queue] : this.queue
    if (payloads.length === 0) return true
    const urls = this.urls
    if (urls === undefined) return false
    const items = payloads.map((p) => ({ url: urls[p.signal].href, body: p.body, headers: { [PAYLOAD_ID_HEADER]: p.id } }))
    if (!sendAtExit({ items, headers: this.headers, timeoutMs, ...(this.options.ca ? { ca: this.options.ca } : {}) })) return false
    for (const p of this.queue) {
      this.countSent(p)
      p.settled?.(true)
    }
    this.queue.length = 0
    this.queuedBytes = 0
    return true
  }

  /** Payloads held: queued and in flight. */
  get pendingCount(): number {
    return this.queue.length + (this.inFlight ? 1 : 0)
  }

  /** Bytes held: queued and in flight. */
  get heldBytes(): number {
    return this.queuedBytes + (this.inFlight ? this.inFlight.payload.body.length : 0)
  }
}

/** The CA in `caFile`, for an https endpoint; a file that cannot be read is reported and left out. */
export function readCa(file: string, logger: Logger): Buffer | undefined {
  if (!file) return undefined
  try {
    return readFileSync(file)
  } catch (err) {
    logger.report('error', 'AGENT_CONFIG_VALUE', 'caFile', JSON.stringify(file), 'the configuration', 'a readable PEM file', `unused (${describeError(err)})`)
    return undefined
  }
}

/** The content type of the payloads' encoding, as OTLP/HTTP names it. */
export function contentType(protocol: OtlpProtocol): string {
  return protocol === 'http/protobuf' ? 'application/x-protobuf' : 'application/json'
}

function lowerCased(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value
  return out
}

/** What to do about a failed send, by its real cause. */
function failureFix(error: SendError | undefined): string {
  switch (error?.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'The host name does not resolve; check "endpoint".'
    case 'ECONNREFUSED':
      return 'Nothing listens there; start the collector or fix "endpoint".'
    case 'EMFILE':
    case 'ENFILE':
      return 'This process has no file descriptor left (its own limit, not the collector): raise the limit (ulimit -n) or look for a descriptor leak in the app.'
    case PLAIN_HTTP:
      return 'The endpoint does not speak TLS: use http:// in "endpoint", or enable TLS on the collector.'
    case 'ECONNRESET':
      return 'The collector closed the connection; check that "endpoint" points at an OTLP/HTTP receiver.'
    case NOT_HTTP:
      return 'Its answer is not HTTP/1.1; check that "endpoint" points at an OTLP/HTTP receiver.'
  }
  return 'The collector is slow or unavailable.'
}
