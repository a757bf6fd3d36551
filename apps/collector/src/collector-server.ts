import http from 'node:http'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { gunzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { InvalidPayload, ingestLogs, ingestMetrics, ingestTraces } from './otlp-ingest.js'
import { counters, endpointSummary, errorGroups, processes, services, slowTraces, timeseries } from './queries.js'
import type { Store } from './store.js'

export interface CollectorOptions {
  store: Store
  /** When set, a report without it in `keyHeader` gets a 401. */
  key?: string
  keyHeader?: string
  /** Largest body accepted, compressed and decompressed. */
  maxBodyBytes?: number
}

const require = createRequire(import.meta.url)
const publicDir = (f: string) => fileURLToPath(new URL(`../public/${f}`, import.meta.url))
const assets: Record<string, { file: () => string; type: string }> = {
  '/': { file: () => publicDir('index.html'), type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: () => publicDir('dashboard.js'), type: 'text/javascript; charset=utf-8' },
  // chart.js does not export its UMD build: find it beside the package's main file.
  '/vendor/chart.js': { file: () => join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'), type: 'text/javascript; charset=utf-8' },
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text)
}

/** An OTLP/HTTP (JSON) receiver with storage and a dashboard. */
export function createCollectorServer(options: CollectorOptions): http.Server {
  const { store } = options
  const keyHeader = (options.keyHeader ?? 'x-agent-key').toLowerCase()
  const maxBody = options.maxBodyBytes ?? 8 * 1024 * 1024
  const ingest: Record<string, (db: typeof store.db, body: unknown) => void> = { '/v1/metrics': ingestMetrics, '/v1/traces': ingestTraces, '/v1/logs': ingestLogs }

  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://collector')
    const handler = ingest[url.pathname]
    if (req.method === 'POST' && handler) {
      if (options.key && req.headers[keyHeader] !== options.key) return reply(res, 401, { error: `missing or wrong key: send it in the "${keyHeader}" header` })
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return reply(res, 400, { error: 'only OTLP/JSON (content-type: application/json) is accepted' })
      const chunks: Buffer[] = []
      let size = 0
      let tooLarge = false
      req.on('data', (c: Buffer) => {
        size += c.length
        if (size > maxBody) tooLarge = true
        else chunks.push(c)
      })
      req.on('end', () => {
        if (tooLarge) return reply(res, 400, { error: `payload too large: more than ${maxBody} bytes` })
        let raw = Buffer.concat(chunks)
        try {
          if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw, { maxOutputLength: maxBody })
        } catch (err) {
          return reply(res, 400, { error: `bad gzip body or larger than ${maxBody} bytes once decompressed: ${(err as Error).message}` })
        }
        let body: unknown
        try {
          body = JSON.parse(raw.toString('utf8'))
        } catch (err) {
          return reply(res, 400, { error: `malformed JSON: ${(err as Error).message}` })
        }
        try {
          handler(store.db, body)
          reply(res, 200, {})
        } catch (err) {
          if (err instanceof InvalidPayload) return reply(res, 400, { error: `invalid OTLP payload: ${err.message}` })
          reply(res, 500, { error: 'storage failed' })
        }
      })
      return
    }
    if (req.method !== 'GET') return reply(res, 405, { error: 'method not allowed' })
    const asset = assets[url.pathname]
    if (asset) {
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' }).end(readFileSync(asset.file()))
      return
    }
    const service = url.searchParams.get('service') ?? services(store.db)[0] ?? ''
    const db = store.db
    switch (url.pathname) {
      case '/api/services': return reply(res, 200, services(db))
      case '/api/summary': return reply(res, 200, { service, endpoints: endpointSummary(db, service), counters: counters(db, service) })
      case '/api/timeseries': return reply(res, 200, timeseries(db, service, Math.max(1000, Number(url.searchParams.get('bucketMs') ?? 5000))))
      case '/api/processes': return reply(res, 200, processes(db, service))
      case '/api/traces': return reply(res, 200, slowTraces(db, service))
      case '/api/errors': return reply(res, 200, errorGroups(db, service))
      default: return reply(res, 404, { error: 'not found' })
    }
  })
}
