import type Database from 'better-sqlite3'

/** A payload that cannot be stored; the reason goes back in the 400. */
export class InvalidPayload extends Error {}

type KV = { key: string; value: Record<string, unknown> }

function fail(path: string, expected: string): never {
  throw new InvalidPayload(`${path}: expected ${expected}`)
}

function array(value: unknown, path: string): unknown[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) fail(path, 'an array')
  return value
}

function object(value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(path, 'an object')
  return value as Record<string, unknown>
}

function attributes(value: unknown, path: string): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {}
  for (const [i, raw] of array(value, path).entries()) {
    const kv = object(raw, `${path}[${i}]`) as unknown as KV
    if (typeof kv.key !== 'string') fail(`${path}[${i}].key`, 'a string')
    const v = object(kv.value, `${path}[${i}].value`)
    const scalar = v.stringValue ?? v.boolValue ?? v.doubleValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined)
    if (scalar !== undefined) out[kv.key] = scalar as string | number | boolean
  }
  return out
}

/** OTLP/JSON encodes 64-bit integers as strings (numbers are accepted too). */
function int(value: unknown, path: string): number {
  const n = typeof value === 'string' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isFinite(n)) fail(path, 'an integer')
  return n
}

const nanosToMs = (v: unknown, path: string) => int(v, path) / 1e6

function upsertProcess(db: Database.Database, r: Record<string, string | number | boolean>, now: number): string {
  const instance = String(r['service.instance.id'] ?? '')
  if (!instance) throw new InvalidPayload('resource: service.instance.id is missing')
  const service = String(r['service.name'] ?? 'unknown_service')
  db.prepare(`INSERT INTO processes (instance_id, service, host, pid, ppid, role, parent_instance_id, worker_id, framework, runtime_version, first_seen, last_seen)
    VALUES (@instance, @service, @host, @pid, @ppid, @role, @parent, @worker, @framework, @runtime, @now, @now)
    ON CONFLICT(instance_id) DO UPDATE SET last_seen = @now, role = @role`).run({
    instance, service, host: String(r['host.name'] ?? ''), pid: Number(r['process.pid'] ?? 0), ppid: Number(r['process.parent_pid'] ?? 0),
    role: String(r['agent.process.role'] ?? 'standalone'), parent: r['agent.parent.instance.id'] !== undefined ? String(r['agent.parent.instance.id']) : null,
    worker: r['agent.worker.id'] !== undefined ? String(r['agent.worker.id']) : null,
    framework: r['agent.framework.name'] !== undefined ? `${r['agent.framework.name']} ${r['agent.framework.version'] ?? ''}`.trim() : null,
    runtime: r['process.runtime.version'] !== undefined ? String(r['process.runtime.version']) : null, now,
  })
  return instance
}

interface EndpointPoint { count: number; errors: number; aborted: number; start: number; end: number; hist?: unknown }

/** Validates a whole ExportMetricsServiceRequest first, then stores it in one transaction. */
export function ingestMetrics(db: Database.Database, body: unknown): void {
  const root = object(body, '$')
  const writes: (() => void)[] = []
  const now = Date.now()
  for (const [ri, rmRaw] of array(root.resourceMetrics, '$.resourceMetrics').entries()) {
    const rm = object(rmRaw, `$.resourceMetrics[${ri}]`)
    const resource = attributes(object(rm.resource ?? {}, `$.resourceMetrics[${ri}].resource`).attributes, `$.resourceMetrics[${ri}].resource.attributes`)
    const service = String(resource['service.name'] ?? 'unknown_service')
    const endpoints = new Map<string, EndpointPoint & { method: string; route: string }>()
    const runtime: { name: string; time: number; value: number }[] = []
    const counters: { name: string; value: number }[] = []
    for (const [si, smRaw] of array(rm.scopeMetrics, `$.resourceMetrics[${ri}].scopeMetrics`).entries()) {
      const sm = object(smRaw, `$.resourceMetrics[${ri}].scopeMetrics[${si}]`)
      for (const [mi, mRaw] of array(sm.metrics, `$.resourceMetrics[${ri}].scopeMetrics[${si}].metrics`).entries()) {
        const path = `$.resourceMetrics[${ri}].scopeMetrics[${si}].metrics[${mi}]`
        const m = object(mRaw, path)
        if (typeof m.name !== 'string') fail(`${path}.name`, 'a string')
        const name = m.name
        const data = (m.sum ?? m.gauge ?? m.exponentialHistogram ?? m.histogram) as Record<string, unknown> | undefined
        if (!data) continue
        for (const [pi, pRaw] of array(object(data, path).dataPoints, `${path}.dataPoints`).entries()) {
          const ppath = `${path}.dataPoints[${pi}]`
          const p = object(pRaw, ppath)
          const a = attributes(p.attributes, `${ppath}.attributes`)
          const end = nanosToMs(p.timeUnixNano, `${ppath}.timeUnixNano`)
          if (name.startsWith('http.server.request.')) {
            const key = `${a['http.request.method']} ${a['http.route']}`
            const start = p.startTimeUnixNano !== undefined ? nanosToMs(p.startTimeUnixNano, `${ppath}.startTimeUnixNano`) : end
            const e = endpoints.get(key) ?? { method: String(a['http.request.method'] ?? ''), route: String(a['http.route'] ?? ''), count: 0, errors: 0, aborted: 0, start, end }
            endpoints.set(key, e)
            if (name === 'http.server.request.duration') e.hist = p
            else {
              const value = int(p.asInt ?? p.asDouble ?? 0, `${ppath}.asInt`)
              if (name === 'http.server.request.count') e.count += value
              else if (name === 'http.server.request.errors') e.errors += value
              else if (name === 'http.server.request.aborted') e.aborted += value
            }
          } else if (m.sum) {
            counters.push({ name, value: int(p.asInt ?? p.asDouble ?? 0, `${ppath}.asInt`) })
          } else if (m.gauge) {
            const value = Number(p.asDouble ?? p.asInt)
            if (!Number.isFinite(value)) fail(`${ppath}.asDouble`, 'a number')
            runtime.push({ name, time: end, value })
          }
        }
      }
    }
    writes.push(() => {
      const instance = upsertProcess(db, resource, now)
      const insert = db.prepare('INSERT INTO endpoint_points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      for (const e of endpoints.values()) insert.run(instance, service, e.method, e.route, Math.round(e.start), Math.round(e.end), e.count, e.errors, e.aborted, e.hist ? JSON.stringify(e.hist) : null)
      const rt = db.prepare('INSERT INTO runtime_points VALUES (?, ?, ?, ?)')
      for (const r of runtime) rt.run(instance, Math.round(r.time), r.name, r.value)
      const counter = db.prepare('INSERT INTO counters VALUES (?, ?, ?) ON CONFLICT(service, name) DO UPDATE SET value = value + excluded.value')
      for (const c of counters) counter.run(service, c.name, c.value)
    })
  }
  db.transaction(() => writes.forEach((w) => w()))()
}

export function ingestTraces(db: Database.Database, body: unknown): void {
  const root = object(body, '$')
  const rows: unknown[][] = []
  const resources: Record<string, string | number | boolean>[] = []
  for (const [ri, rsRaw] of array(root.resourceSpans, '$.resourceSpans').entries()) {
    const rs = object(rsRaw, `$.resourceSpans[${ri}]`)
    const resource = attributes(object(rs.resource ?? {}, `$.resourceSpans[${ri}].resource`).attributes, `$.resourceSpans[${ri}].resource.attributes`)
    resources.push(resource)
    for (const [si, ssRaw] of array(rs.scopeSpans, `$.resourceSpans[${ri}].scopeSpans`).entries()) {
      for (const [i, sRaw] of array(object(ssRaw, `$.resourceSpans[${ri}].scopeSpans[${si}]`).spans, 'spans').entries()) {
        const path = `$.resourceSpans[${ri}].scopeSpans[${si}].spans[${i}]`
        const s = object(sRaw, path)
        if (typeof s.traceId !== 'string' || !/^[0-9a-f]{32}$/i.test(s.traceId)) fail(`${path}.traceId`, '32 hex digits')
        if (typeof s.spanId !== 'string' || !/^[0-9a-f]{16}$/i.test(s.spanId)) fail(`${path}.spanId`, '16 hex digits')
        rows.push([s.traceId, s.spanId, typeof s.parentSpanId === 'string' && s.parentSpanId ? s.parentSpanId : null, String(resource['service.instance.id'] ?? ''), String(resource['service.name'] ?? ''),
          String(s.name ?? ''), nanosToMs(s.startTimeUnixNano, `${path}.startTimeUnixNano`), nanosToMs(s.endTimeUnixNano, `${path}.endTimeUnixNano`),
          Number((s.status as { code?: number } | undefined)?.code ?? 0), JSON.stringify(attributes(s.attributes, `${path}.attributes`))])
      }
    }
  }
  db.transaction(() => {
    for (const r of resources) if (r['service.instance.id']) upsertProcess(db, r, Date.now())
    const insert = db.prepare('INSERT OR REPLACE INTO spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    for (const r of rows) insert.run(...r)
  })()
}

export function ingestLogs(db: Database.Database, body: unknown): void {
  const root = object(body, '$')
  const writes: (() => void)[] = []
  for (const [ri, rlRaw] of array(root.resourceLogs, '$.resourceLogs').entries()) {
    const rl = object(rlRaw, `$.resourceLogs[${ri}]`)
    const resource = attributes(object(rl.resource ?? {}, `$.resourceLogs[${ri}].resource`).attributes, `$.resourceLogs[${ri}].resource.attributes`)
    const service = String(resource['service.name'] ?? 'unknown_service')
    const errors: Record<string, string | number | boolean>[] = []
    for (const [si, slRaw] of array(rl.scopeLogs, `$.resourceLogs[${ri}].scopeLogs`).entries()) {
      for (const [i, lrRaw] of array(object(slRaw, `$.resourceLogs[${ri}].scopeLogs[${si}]`).logRecords, 'logRecords').entries()) {
        const lr = object(lrRaw, `$.resourceLogs[${ri}].scopeLogs[${si}].logRecords[${i}]`)
        const a = attributes(lr.attributes, `$.resourceLogs[${ri}].scopeLogs[${si}].logRecords[${i}].attributes`)
        if (a['event.name'] === 'exception') errors.push(a)
      }
    }
    writes.push(() => {
      if (resource['service.instance.id']) upsertProcess(db, resource, Date.now())
      const upsert = db.prepare(`INSERT INTO errors VALUES (@service, @fp, @type, @message, @stack, @method, @route, @count, @first, @last, @context)
        ON CONFLICT(service, fingerprint) DO UPDATE SET count = count + excluded.count, last_seen = max(last_seen, excluded.last_seen)`)
      for (const e of errors) {
        upsert.run({ service, fp: String(e['agent.error.fingerprint'] ?? `${e['exception.type']}:${e['exception.message']}`), type: String(e['exception.type'] ?? 'Error'),
          message: String(e['exception.message'] ?? ''), stack: String(e['exception.stacktrace'] ?? ''), method: String(e['http.request.method'] ?? ''), route: String(e['http.route'] ?? ''),
          count: Number(e['agent.error.count'] ?? 1), first: Date.now(), last: Number(e['agent.error.last_seen_ms'] ?? Date.now()), context: e['agent.error.context'] !== undefined ? String(e['agent.error.context']) : null })
      }
    })
  }
  db.transaction(() => writes.forEach((w) => w()))()
}
