import http from 'node:http'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { gunzipSync } from 'node:zlib'

/**
 * ok: stores and answers 200 `{}`. blackhole: reads, never answers. status: answers `status`.
 * garbage: a broken status line. slow: answers after `slowMs`.
 * huge: stores, answers 200 and streams up to `hugeBytes` of body as fast as the client reads.
 * trickle: stores, answers 200 and sends one byte of body every 100 ms for `slowMs`.
 * drop-after-store: stores, then closes the connection without an answer (`dropsLeft` times, then ok).
 */
export type SinkMode = 'ok' | 'blackhole' | 'status' | 'garbage' | 'slow' | 'huge' | 'trickle' | 'drop-after-store'

export interface Received {
  path: string
  headers: http.IncomingHttpHeaders
  body: any
  raw: Buffer
}

/**
 * A real OTLP/HTTP JSON receiver on 127.0.0.1 for tests: decodes (gzip too),
 * keeps every payload and can be told to misbehave.
 */
export class OtlpSink {
  readonly received: Received[] = []
  mode: SinkMode = 'ok'
  status = 503
  retryAfter: string | undefined
  slowMs = 0
  hugeBytes = 512 * 1024 * 1024
  /** Body bytes the huge and trickle modes wrote, in all. */
  bodyBytesWritten = 0
  dropsLeft = 1
  private server!: http.Server | https.Server
  private readonly sockets = new Set<Socket>()
  port = 0
  private constructor(private readonly tls?: { key: string; cert: string }) {}

  static async start(options: { port?: number; tls?: { key: string; cert: string }; mode?: SinkMode } = {}): Promise<OtlpSink> {
    const sink = new OtlpSink(options.tls)
    if (options.mode) sink.mode = options.mode
    await sink.listen(options.port ?? 0)
    return sink
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`
  }

  async listen(port = this.port): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res)
    this.server = this.tls ? https.createServer(this.tls, handler) : http.createServer(handler)
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
    // Listening again on its old port (a collector back after an outage): a connection of another
    // test may hold that port for a moment meanwhile, so a taken port is tried again, 5 s at most.
    const deadline = Date.now() + 5000
    for (;;) {
      try {
        await new Promise<void>((resolve, reject) => {
          this.server.once('error', reject)
          this.server.listen(port, '127.0.0.1', () => {
            this.server.off('error', reject)
            resolve()
          })
        })
        break
      } catch (err) {
        if (port === 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() > deadline) throw err
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    this.port = (this.server.address() as AddressInfo).port
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (this.mode === 'blackhole') return // accept, read, never answer
      let raw = Buffer.concat(chunks)
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw)
      const reply = () => {
        if (this.mode === 'status') {
          if (this.retryAfter) res.setHeader('retry-after', this.retryAfter)
          res.writeHead(this.status).end('{"error":"try later"}')
          return
        }
        if (this.mode === 'garbage') {
          res.socket?.end('HTTP/1.1 2OO garbage\r\n\r\n\x00\x01\x02')
          return
        }
        this.received.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(raw.toString('utf8')), raw })
        if (this.mode === 'drop-after-store' && this.dropsLeft > 0) {
          this.dropsLeft--
          req.socket.destroy()
          return
        }
        if (this.mode === 'huge') return this.streamHuge(res)
        if (this.mode === 'trickle') return this.trickle(res)
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      }
      if (this.mode === 'slow') setTimeout(reply, this.slowMs)
      else reply()
    })
  }

  private streamHuge(res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json' })
    const chunk = Buffer.alloc(64 * 1024, 32)
    const write = () => {
      while (this.bodyBytesWritten < this.hugeBytes && !res.destroyed) {
        this.bodyBytesWritten += chunk.length
        if (!res.write(chunk)) return void res.once('drain', write)
      }
      res.end()
    }
    write()
  }

  private trickle(res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json' })
    const until = Date.now() + this.slowMs
    const timer = setInterval(() => {
      if (res.destroyed || Date.now() >= until) {
        clearInterval(timer)
        if (!res.destroyed) res.end()
        return
      }
      this.bodyBytesWritten++
      res.write(' ')
    }, 100)
    res.on('close', () => clearInterval(timer))
  }

  /** Refuses connections from now on (the port is closed). */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  close(): Promise<void> {
    return this.stop()
  }

  /**
   * What a collector stores, as the embedded one does: each payload id once
   * (a payload sent again after a lost answer is a duplicate), in arrival order.
   */
  payloads(path: string): any[] {
    const seen = new Set<string>()
    return this.received.filter((r) => {
      const id = r.headers['x-agent-payload-id']
      if (r.path !== path || (typeof id === 'string' && seen.has(id))) return false
      if (typeof id === 'string') seen.add(id)
      return true
    }).map((r) => r.body)
  }

  /**
   * Resource metrics as a collector stores them: a worker's own export of
   * hand-overs its dead primary had already delivered (`agent.handover.from`
   * through `agent.handover.through`, no later than what the primary's
   * payloads held for that worker) is stored once, through the primary.
   */
  private storedResourceMetrics(): any[] {
    const deliveredThrough = new Map<unknown, number>()
    const out: any[] = []
    for (const body of this.payloads('/v1/metrics')) {
      for (const rm of body.resourceMetrics ?? []) {
        const resource = attrs(rm.resource?.attributes)
        const instance = resource['service.instance.id']
        const through = resource['agent.handover.through'] as number | undefined
        if (through !== undefined && resource['agent.handover.from'] === undefined) {
          deliveredThrough.set(instance, Math.max(deliveredThrough.get(instance) ?? 0, through))
        } else if (through !== undefined && through <= (deliveredThrough.get(instance) ?? 0)) {
          continue
        }
        out.push(rm)
      }
    }
    return out
  }

  /** Sum of one Sum metric's data points, optionally per resource attribute filter. */
  sumOf(metricName: string, filter?: (resourceAttrs: Record<string, unknown>, pointAttrs: Record<string, unknown>) => boolean): number {
    let total = 0
    for (const rm of this.storedResourceMetrics()) {
      const resource = attrs(rm.resource?.attributes)
      for (const sm of rm.scopeMetrics ?? []) {
        for (const m of sm.metrics ?? []) {
          if (m.name !== metricName || !m.sum) continue
          for (const p of m.sum.dataPoints) if (!filter || filter(resource, attrs(p.attributes))) total += Number(p.asInt ?? p.asDouble ?? 0)
        }
      }
    }
    return total
  }

  /** Requests stored: the count of `http.server.request.duration`'s points (the agent sends no separate count). */
  requests(filter?: (resourceAttrs: Record<string, unknown>, pointAttrs: Record<string, unknown>) => boolean): number {
    let total = 0
    for (const rm of this.storedResourceMetrics()) {
      const resource = attrs(rm.resource?.attributes)
      for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) {
        if (m.name !== 'http.server.request.duration') continue
        for (const p of m.exponentialHistogram.dataPoints) if (!filter || filter(resource, attrs(p.attributes))) total += Number(p.count)
      }
    }
    return total
  }

  /** Requests stored per endpoint, keyed `METHOD route` (or by route alone with `byRoute`). */
  requestsPerEndpoint(byRoute = false): Record<string, number> {
    const out: Record<string, number> = {}
    for (const rm of this.storedResourceMetrics()) {
      for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) {
        if (m.name !== 'http.server.request.duration') continue
        for (const p of m.exponentialHistogram.dataPoints) {
          const a = attrs(p.attributes)
          const key = byRoute ? String(a['http.route']) : `${a['http.request.method']} ${a['http.route']}`
          out[key] = (out[key] ?? 0) + Number(p.count)
        }
      }
    }
    return out
  }

  logRecords(): { resource: Record<string, unknown>; attributes: Record<string, unknown>; body: string }[] {
    const out = []
    for (const body of this.payloads('/v1/logs')) {
      for (const rl of body.resourceLogs ?? []) {
        for (const sl of rl.scopeLogs ?? []) for (const r of sl.logRecords ?? []) out.push({ resource: attrs(rl.resource?.attributes), attributes: attrs(r.attributes), body: r.body?.stringValue })
      }
    }
    return out
  }

  spans(): any[] {
    const out = []
    for (const body of this.payloads('/v1/traces')) {
      for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) out.push(...ss.spans.map((s: any) => ({ ...s, attrs: attrs(s.attributes), resource: attrs(rs.resource?.attributes) })))
    }
    return out
  }
}

export function attrs(list: { key: string; value: Record<string, unknown> }[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const kv of list ?? []) {
    const v = kv.value
    out[kv.key] = v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue ?? v.boolValue
  }
  return out
}
