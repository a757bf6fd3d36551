import http from 'node:http'
import https from 'node:https'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { Credentials, type DashboardCredential } from './credentials.js'
import type { Signal } from './ingest-protocol.js'
import { IngestQueue } from './ingest-queue.js'
import { counters, endpointSummary, errorGroups, jobs, layerBreakdown, nPlusOne, processes, queues, runtime, services, slowTraces, timeseries, trace } from './queries.js'
import type { RetentionOptions } from './retention.js'
import { Store } from './store.js'
import { RANGES, timeRange } from './time-range.js'

export interface CollectorOptions {
  /** The SQLite file (created with its folder when missing). */
  dbPath: string
  /** Reports must carry one of these in `keyHeader`; several, so agents can move from one key to the next. */
  keys?: readonly string[]
  keyHeader?: string
  /** Basic auth for the dashboard and /api/*. */
  dashboard?: DashboardCredential
  /** PEM certificate and key: https instead of http. */
  tls?: { cert: string | Buffer; key: string | Buffer }
  /** Largest body accepted as sent (compressed or not). */
  maxBodyBytes?: number
  /** Largest body accepted once decompressed. */
  maxDecompressedBytes?: number
  /** Reports accepted and not yet stored, reading included; beyond it, 429 with Retry-After. */
  maxPendingReports?: number
  /** Server spans from OpenTelemetry SDKs at least this long (ms) are listed as slow traces. */
  slowMs?: number
  /** Raw points kept for `rawMs`, per-minute rollups up to `keepMs`; false keeps everything. */
  retention?: (RetentionOptions & { everyMs?: number }) | false
  log?: (line: string) => void
}

export const DEFAULTS = {
  maxBodyBytes: 8 * 1024 * 1024,
  maxDecompressedBytes: 8 * 1024 * 1024,
  maxPendingReports: 8,
  slowMs: 500,
  retention: { rawMs: 24 * 3_600_000, keepMs: 7 * 86_400_000, everyMs: 60_000 },
  keyHeader: 'x-agent-key',
}

const require = createRequire(import.meta.url)
const publicDir = (f: string) => fileURLToPath(new URL(`../public/${f}`, import.meta.url))
const assets: Record<string, { file: () => string; type: string }> = {
  '/': { file: () => publicDir('index.html'), type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: () => publicDir('dashboard.js'), type: 'text/javascript; charset=utf-8' },
  // chart.js does not export its UMD build: find it beside the package's main file.
  '/vendor/chart.js': { file: () => join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'), type: 'text/javascript; charset=utf-8' },
}
const SIGNALS: Record<string, Signal> = { '/v1/metrics': 'metrics', '/v1/traces': 'traces', '/v1/logs': 'logs' }

function reply(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers }).end(text)
}

/** An OTLP/HTTP (JSON and protobuf) receiver with storage and a dashboard: the server, not yet listening. */
export class Collector {
  readonly server: http.Server
  readonly store: Store
  readonly queue: IngestQueue
  readonly credentials: Credentials

  constructor(readonly options: CollectorOptions) {
    const keyHeader = (options.keyHeader ?? DEFAULTS.keyHeader).toLowerCase()
    this.credentials = new Credentials(options.keys ?? [], options.dashboard, keyHeader)
    this.store = new Store(options.dbPath)
    const retention = options.retention === false ? null : { ...DEFAULTS.retention, ...options.retention }
    this.queue = new IngestQueue({
      dbPath: options.dbPath,
      maxDecompressedBytes: options.maxDecompressedBytes ?? DEFAULTS.maxDecompressedBytes,
      slowMs: options.slowMs ?? DEFAULTS.slowMs,
      retention,
      maxPendingReports: options.maxPendingReports ?? DEFAULTS.maxPendingReports,
      log: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
    })
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res, keyHeader)
    this.server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler) : http.createServer(handler)
    // A client that trickles a report holds one of the bounded slots: not for longer than this.
    this.server.requestTimeout = 60_000
  }

  /** Stops accepting, lets what is in progress finish, then closes storage. */
  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.server.close(() => resolve())
      this.server.closeIdleConnections()
    }).then(async () => {
      await this.queue.close()
      this.store.close()
    })
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, keyHeader: string): void {
    const url = new URL(req.url ?? '/', 'http://collector')
    const signal = SIGNALS[url.pathname]
    if (req.method === 'POST' && signal) return this.ingest(req, res, signal, keyHeader)
    if (!this.credentials.dashboardAllowed(req)) {
      req.resume()
      return reply(res, 401, { error: 'the dashboard and /api/* need the collector\'s dashboard user and password (basic auth)' }, { 'www-authenticate': 'Basic realm="agent collector", charset="UTF-8"' })
    }
    if (req.method !== 'GET') return reply(res, 405, { error: 'method not allowed' })
    const asset = assets[url.pathname]
    if (asset) {
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' }).end(readFileSync(asset.file()))
      return
    }
    if (!url.pathname.startsWith('/api/')) return reply(res, 404, { error: 'not found' })
    const range = timeRange(url.searchParams.get('range'), Date.now())
    if (!range) return reply(res, 400, { error: `range must be one of ${Object.keys(RANGES).join(', ')}` })
    const db = this.store.db
    const service = url.searchParams.get('service') ?? services(db)[0] ?? ''
    switch (url.pathname) {
      case '/api/services': return reply(res, 200, services(db))
      case '/api/summary': return reply(res, 200, { service, range: range.name, from: range.from, to: range.to, endpoints: endpointSummary(db, service, range), counters: counters(db, service, range) })
      case '/api/timeseries': return reply(res, 200, timeseries(db, service, range))
      case '/api/runtime': return reply(res, 200, runtime(db, service, range))
      case '/api/processes': return reply(res, 200, processes(db, service, range))
      case '/api/traces': return reply(res, 200, slowTraces(db, service, range, 50, url.searchParams.get('reason') ?? undefined))
      case '/api/trace': {
        const found = trace(db, url.searchParams.get('trace_id') ?? '', url.searchParams.get('span_id') ?? '')
        return found ? reply(res, 200, found) : reply(res, 404, { error: 'no such trace in this collector: trace_id and span_id (its root span) are needed' })
      }
      case '/api/layers': return reply(res, 200, layerBreakdown(db, service, range))
      case '/api/n-plus-one': return reply(res, 200, nPlusOne(db, service, range))
      case '/api/jobs': return reply(res, 200, jobs(db, service, range))
      case '/api/queues': return reply(res, 200, queues(db, service, range))
      case '/api/errors': return reply(res, 200, errorGroups(db, service, range))
      default: return reply(res, 404, { error: 'not found' })
    }
  }

  private ingest(req: http.IncomingMessage, res: http.ServerResponse, signal: Signal, keyHeader: string): void {
    // Refusals leave the body unread: resume() discards it as it comes, so the client gets the answer.
    if (!this.credentials.ingestAllowed(req)) {
      req.resume()
      return reply(res, 401, { error: `missing or wrong key: send one of the collector's keys (--key) in the "${keyHeader}" header (the agent's AGENT_KEY)` })
    }
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    const protobuf = type === 'application/x-protobuf' || type === 'application/protobuf'
    if (type !== 'application/json' && !protobuf) {
      req.resume()
      return reply(res, 415, { error: 'OTLP/JSON (content-type: application/json) or OTLP/protobuf (application/x-protobuf) is accepted' })
    }
    const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase()
    if (encoding !== 'gzip' && encoding !== 'identity') {
      req.resume()
      return reply(res, 400, { error: `content-encoding ${encoding} is not accepted: send gzip or no encoding` })
    }
    const queue = this.queue
    if (!queue.tryAcquire()) {
      req.resume()
      const seconds = queue.retryAfterSeconds()
      return reply(res, 429, { error: `the collector is behind: ${queue.pending} reports in progress; retry after ${seconds} s` }, { 'retry-after': String(seconds) })
    }
    let released = false
    const release = () => {
      if (!released) (released = true), queue.release()
    }
    // A client gone mid-upload gives its slot back.
    req.once('close', () => {
      if (!req.complete) release()
    })
    const maxBody = this.options.maxBodyBytes ?? DEFAULTS.maxBodyBytes
    const tooLarge = () => reply(res, 400, { error: `payload too large: more than ${maxBody} bytes` })
    if (Number(req.headers['content-length'] ?? 0) > maxBody) {
      release()
      req.resume()
      return tooLarge()
    }
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      // Past the bound the rest is read and dropped, so the client still gets its answer.
      if (size <= maxBody) chunks.push(c)
      else chunks.length = 0
    })
    req.on('end', () => {
      if (size > maxBody) {
        release()
        return tooLarge()
      }
      // The agent's payload id (bounded, printable): a payload sent again after a lost answer is stored once.
      const id = req.headers['x-agent-payload-id']
      const payloadId = typeof id === 'string' && id.length <= 200 && /^[\x21-\x7e]+$/.test(id) ? id : undefined
      queue.store(signal, Buffer.concat(chunks, size), encoding === 'gzip', payloadId, protobuf).then((r) => {
        release()
        if (r.status === 503) reply(res, 503, { error: r.error }, { 'retry-after': '5' })
        else reply(res, r.status, r.status === 200 ? {} : { error: r.error })
      })
    })
  }
}
