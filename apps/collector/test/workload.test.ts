// Where the time goes, N+1 patterns, client spans and joined traces, jobs and queues: hand-built
// OTLP payloads of the agent's shapes posted to a real collector on loopback, the answers read
// back from its API.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LatencyHistogram } from '@agent/core/internal'
import { startCollector } from '../src/start-collector.ts'
import { CUMULATIVE, expHistogram, gauge, hex, histogramPoint, metricsBody, post, resource, sum, sumPoint, tracesBody } from './otlp-payloads.ts'

const ORDERS = { 'http.request.method': 'GET', 'http.route': '/orders/:id' }
const SEND = { 'messaging.system': 'bullmq', 'messaging.destination.name': 'email', 'agent.job.name': 'send' }
const N1 = 'SELECT * FROM items WHERE order_id = ?'
const round = (n: number) => Math.round(n * 100) / 100

const tmp = mkdtempSync(join(tmpdir(), 'workload-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

async function collector() {
  const c = await startCollector({ host: '127.0.0.1', port: 0, dbPath: join(mkdtempSync(join(tmp, 'case-')), 'c.db') })
  const api = async <T = any>(path: string): Promise<T> => {
    const res = await fetch(`${c.url}${path}`)
    assert.equal(res.status, 200, `${path}: ${res.status}`)
    return res.json() as Promise<T>
  }
  return { c, api }
}

/** An HTTP endpoint's interval: its requests (count, errors, durations) and what the agent measured in its layers. */
function endpointMetrics(durations: number[], layers: [layer: string, seconds: number, calls: number][], nPlusOne: [layer: string, statement: string, requests: number][], start: number, end: number, temporality = 1) {
  return [
    sum('http.server.request.count', '{request}', [sumPoint(durations.length, ORDERS, start, end)]),
    sum('http.server.request.errors', '{request}', [sumPoint(0, ORDERS, start, end)]),
    expHistogram('http.server.request.duration', [histogramPoint(durations, ORDERS, start, end)]),
    sum('agent.layer.duration', 's', layers.map(([layer, seconds]) => sumPoint(seconds, { ...ORDERS, 'agent.layer': layer }, start, end)), temporality),
    sum('agent.layer.calls', '{call}', layers.map(([layer, , calls]) => sumPoint(calls, { ...ORDERS, 'agent.layer': layer }, start, end)), temporality),
    sum('agent.n_plus_one.requests', '{request}', nPlusOne.map(([layer, statement, n]) => sumPoint(n, { ...ORDERS, 'agent.layer': layer, 'db.query.text': statement }, start, end)), temporality),
  ]
}

test('per endpoint and job: time by layer (app = total minus layers), calls, and N+1 statement shapes; delta and cumulative senders add up', async (t) => {
  const { c, api } = await collector()
  t.after(() => c.close())
  const end = Date.now() - 30_000
  const start = end - 60_000
  // Instance a, delta: 6 requests of 100 ms; postgresql 240 ms in 18 calls, redis 60 ms in 6 calls, http 120 ms in 3 calls.
  await post(c.url, '/v1/metrics', metricsBody(resource('shop', 'a'), endpointMetrics(Array(6).fill(0.1), [['postgresql', 0.24, 18], ['redis', 0.06, 6], ['http', 0.12, 3]], [['postgresql', N1, 2]], start, end)))
  // Instance b, cumulative: two reports of totals since its start; the collector stores their difference.
  await post(c.url, '/v1/metrics', metricsBody(resource('shop', 'b'), endpointMetrics(Array(4).fill(0.1), [['postgresql', 0.1, 8]], [['postgresql', N1, 1]], start, end - 20_000, CUMULATIVE)))
  await post(c.url, '/v1/metrics', metricsBody(resource('shop', 'b'), endpointMetrics([], [['postgresql', 0.16, 12]], [['postgresql', N1, 2]], start, end, CUMULATIVE)))
  // A job worker of the same service: 4 jobs of 500 ms, with mysql 1.2 s in 40 calls and an N+1 in redis.
  const job = [
    expHistogram('agent.job.duration', [histogramPoint(Array(4).fill(0.5), { ...SEND, 'agent.job.outcome': 'completed' }, start, end)]),
    sum('agent.layer.duration', 's', [sumPoint(1.2, { 'messaging.destination.name': 'email', 'agent.job.name': 'send', 'agent.layer': 'mysql' }, start, end)]),
    sum('agent.layer.calls', '{call}', [sumPoint(40, { 'messaging.destination.name': 'email', 'agent.job.name': 'send', 'agent.layer': 'mysql' }, start, end)]),
    sum('agent.n_plus_one.requests', '{request}', [sumPoint(3, { 'messaging.destination.name': 'email', 'agent.job.name': 'send', 'agent.layer': 'redis', 'db.query.text': 'GET ?' }, start, end)]),
  ]
  await post(c.url, '/v1/metrics', metricsBody(resource('shop', 'w'), job))

  type Breakdown = { kind: string; endpoint: string; count: number; meanMs: number; layers: { layer: string; meanMs: number; callsPerRequest: number; share: number; seconds: number }[] }
  const layers = await api<Breakdown[]>('/api/layers?service=shop&range=15m')
  const orders = layers.find((l) => l.endpoint === 'GET /orders/:id')!
  assert.equal(orders.kind, 'http')
  assert.equal(orders.count, 10)
  assert.equal(orders.meanMs, 100)
  // postgresql: 0.24 s (a) + 0.16 s (b: 0.1 then 0.06 more) = 0.4 s over 10 requests; app: 1 s - 0.4 - 0.06 - 0.12.
  const byLayer = Object.fromEntries(orders.layers.map((l) => [l.layer, [l.meanMs, l.callsPerRequest, l.share]]))
  assert.deepEqual(byLayer, { app: [42, 0, 42], http: [12, 0.3, 12], postgresql: [40, 3, 40], redis: [6, 0.6, 6] })
  assert.equal(orders.layers[0]!.layer, 'app', 'the app first, then the layers by name')
  const send = layers.find((l) => l.endpoint === 'email/send')!
  assert.equal(send.kind, 'job')
  assert.deepEqual(send.layers.map((l) => [l.layer, l.meanMs, l.callsPerRequest, l.share]), [['app', 200, 0, 40], ['mysql', 300, 10, 60]])
  assert.equal(layers[0]!.endpoint, 'email/send', 'most time first: 2 s of jobs, 1 s of requests')

  const n1 = await api<{ kind: string; endpoint: string; layer: string; statement: string; requests: number; endpointRequests: number; share: number }[]>('/api/n-plus-one?service=shop&range=15m')
  assert.deepEqual(n1.map((n) => [n.kind, n.endpoint, n.layer, n.statement, n.requests, n.endpointRequests, n.share]), [
    ['http', 'GET /orders/:id', 'postgresql', N1, 4, 10, 40],
    ['job', 'email/send', 'redis', 'GET ?', 3, 4, 75],
  ])
  // Not mistaken for plain counters.
  const summary = await api<{ counters: Record<string, number>; endpoints: { route: string; count: number }[] }>('/api/summary?service=shop&range=15m')
  assert.deepEqual(Object.keys(summary.counters).filter((k) => k.startsWith('agent.layer') || k.startsWith('agent.n_plus_one')), [])
  assert.deepEqual(summary.endpoints.map((e) => [e.route, e.count]), [['/orders/:id', 10]])
  // A service that sends no layer metrics has no breakdown.
  await post(c.url, '/v1/metrics', metricsBody(resource('plain', 'p'), endpointMetrics([0.01], [], [], start, end)))
  assert.deepEqual(await api('/api/layers?service=plain&range=15m'), [])
})

test('traces: client spans by layer with their statement or URL, the reason, the caller\'s span and trace state, linked both ways when the caller\'s trace is here', async (t) => {
  const { c, api } = await collector()
  t.after(() => c.close())
  const t0 = Date.now() - 60_000
  const traceId = hex(0xabc, 32)
  const id = (n: number) => hex(n, 16)
  // The gateway's slow request calls the shop over HTTP (W3C traceparent: same trace, parent = the gateway's client span).
  await post(c.url, '/v1/traces', tracesBody(resource('gateway', 'g'), [
    { traceId, spanId: id(1), name: 'GET /checkout', kind: 2, startMs: t0, endMs: t0 + 900, attrs: { 'http.request.method': 'GET', 'http.route': '/checkout', 'http.response.status_code': 200, 'agent.trace.reason': 'slow' } },
    { traceId, spanId: id(2), parentSpanId: id(1), name: 'GET', kind: 3, startMs: t0 + 10, endMs: t0 + 800, attrs: { 'agent.layer': 'http', 'http.request.method': 'GET', 'url.full': 'http://shop:3000/orders/7', 'server.address': 'shop', 'server.port': 3000, 'http.response.status_code': 200 } },
  ]))
  // The shop's request, kept as an N+1 example: three statements of one shape, a Redis call, a failed HTTP call.
  await post(c.url, '/v1/traces', tracesBody(resource('shop', 's'), [
    { traceId, spanId: id(10), parentSpanId: id(2), traceState: 'vendor=abc', name: 'GET /orders/:id', kind: 2, startMs: t0 + 20, endMs: t0 + 780, attrs: { ...ORDERS, 'http.response.status_code': 200, 'agent.trace.reason': 'n_plus_one' } },
    ...[0, 1, 2].map((i) => ({ traceId, spanId: id(11 + i), parentSpanId: id(10), name: 'SELECT items', kind: 3, startMs: t0 + 30 + i * 50, endMs: t0 + 70 + i * 50, attrs: { 'agent.layer': 'postgresql', 'db.system.name': 'postgresql', 'db.operation.name': 'SELECT', 'db.query.text': N1, 'server.address': 'db', 'server.port': 5432 } })),
    { traceId, spanId: id(14), parentSpanId: id(10), name: 'GET', kind: 3, startMs: t0 + 200, endMs: t0 + 210, attrs: { 'agent.layer': 'redis', 'db.system.name': 'redis', 'db.operation.name': 'GET', 'db.query.text': 'GET ?' } },
    { traceId, spanId: id(15), parentSpanId: id(10), name: 'POST', kind: 3, startMs: t0 + 300, endMs: t0 + 700, error: true, attrs: { 'agent.layer': 'http', 'http.request.method': 'POST', 'url.full': 'https://payments.example/charge', 'http.response.status_code': 503, 'error.type': '503' } },
  ]))
  // And a job's trace: a consumer root.
  await post(c.url, '/v1/traces', tracesBody(resource('shop', 'w'), [
    { traceId: hex(0xdef, 32), spanId: id(20), name: 'email/send', kind: 5, startMs: t0, endMs: t0 + 1500, attrs: { ...SEND, 'agent.job.id': '42', 'agent.job.outcome': 'failed', 'agent.trace.reason': 'slow' } },
    { traceId: hex(0xdef, 32), spanId: id(21), parentSpanId: id(20), name: 'SELECT', kind: 3, startMs: t0 + 5, endMs: t0 + 900, attrs: { 'agent.layer': 'mysql', 'db.system.name': 'mysql', 'db.query.text': 'SELECT * FROM users WHERE id = ?' } },
  ]))

  const shop = await api<any[]>('/api/traces?service=shop&range=15m')
  assert.deepEqual(shop.map((r) => [r.name, r.kind, r.reason]), [['email/send', 5, 'slow'], ['GET /orders/:id', 2, 'n_plus_one']])
  const orders = shop[1]
  assert.equal(orders.trace_id, traceId)
  assert.equal(orders.parent_span_id, id(2))
  assert.equal(orders.trace_state, 'vendor=abc')
  assert.deepEqual(orders.caller, { service: 'gateway', span_id: id(2), name: 'GET', root: { span_id: id(1), name: 'GET /checkout' } })
  assert.deepEqual(orders.spans.map((s: any) => [s.layer, s.detail, s.offsetMs, s.durationMs, s.status_code, s.error]), [
    ['postgresql', N1, 10, 40, 0, null],
    ['postgresql', N1, 60, 40, 0, null],
    ['postgresql', N1, 110, 40, 0, null],
    ['redis', 'GET ?', 180, 10, 0, null],
    ['http', 'POST https://payments.example/charge', 280, 400, 2, '503'],
  ])
  assert.deepEqual(shop[0].spans.map((s: any) => [s.layer, s.detail]), [['mysql', 'SELECT * FROM users WHERE id = ?']])
  assert.deepEqual((await api<any[]>('/api/traces?service=shop&range=15m&reason=n_plus_one')).map((r) => r.span_id), [id(10)])

  // The caller's side: its client span links to the shop's trace; the shop's spans are not drawn in the gateway's.
  const gateway = await api<any[]>('/api/traces?service=gateway&range=15m')
  assert.deepEqual(gateway.map((r) => [r.span_id, r.caller]), [[id(1), null]])
  assert.deepEqual(gateway[0].spans.map((s: any) => [s.span_id, s.layer, s.detail, s.callee]), [[id(2), 'http', 'GET http://shop:3000/orders/7', { service: 'shop', span_id: id(10), name: 'GET /orders/:id' }]])
  // Either trace opens by its root, whatever the service and range chosen.
  assert.equal((await api(`/api/trace?trace_id=${traceId}&span_id=${id(1)}`)).name, 'GET /checkout')
  assert.equal((await fetch(`${c.url}/api/trace?trace_id=${traceId}&span_id=${id(99)}`)).status, 404)

  // The N+1 list points at this example (N+1 counts come from metrics; only the example from traces).
  await post(c.url, '/v1/metrics', metricsBody(resource('shop', 's'), endpointMetrics([0.76], [['postgresql', 0.12, 3]], [['postgresql', N1, 1]], t0, t0 + 1000)))
  const n1 = await api<any[]>('/api/n-plus-one?service=shop&range=15m')
  assert.deepEqual(n1.map((n) => [n.endpoint, n.example]), [['GET /orders/:id', { trace_id: traceId, span_id: id(10) }]])
})

test('jobs beside endpoints: per queue/jobName throughput, outcomes, latency percentiles and wait; queue health is the latest count per queue and state', async (t) => {
  const { c, api } = await collector()
  t.after(() => c.close())
  const end = Date.now() - 30_000
  const start = end - 60_000
  const completed = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
  const waits = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  const jobMetrics = (instance: string) => metricsBody(resource('shop', instance), [
    expHistogram('agent.job.duration', [
      histogramPoint(completed.slice(0, 4), { ...SEND, 'agent.job.outcome': 'completed' }, start, end),
      histogramPoint([2], { ...SEND, 'agent.job.outcome': 'failed' }, start, end),
      histogramPoint([1.5], { ...SEND, 'agent.job.outcome': 'retried' }, start, end),
      // A job of the recordJob API: no queue, no messaging system.
      histogramPoint([0.05, 0.05], { 'agent.job.name': 'cleanup', 'agent.job.outcome': 'completed' }, start, end),
    ]),
    expHistogram('agent.job.wait', [histogramPoint(instance === 'w1' ? waits.slice(0, 5) : waits.slice(5), { 'messaging.destination.name': 'email', 'agent.job.name': 'send' }, start, end)]),
  ])
  await post(c.url, '/v1/metrics', jobMetrics('w1'))
  // The second worker: the other half of the completed jobs, and a stalled one.
  const second = JSON.parse(jobMetrics('w2'))
  second.resourceMetrics[0].scopeMetrics[0].metrics[0].exponentialHistogram.dataPoints[0] = histogramPoint(completed.slice(4), { ...SEND, 'agent.job.outcome': 'completed' }, start, end)
  second.resourceMetrics[0].scopeMetrics[0].metrics[0].exponentialHistogram.dataPoints.push(histogramPoint([30], { ...SEND, 'agent.job.outcome': 'stalled' }, start, end))
  await post(c.url, '/v1/metrics', JSON.stringify(second))
  // Queue counts: each worker reads the same queue; the latest report is the queue's state.
  const states = (values: Record<string, number>, timeMs: number) => Object.entries(values).map(([state, value]) => ({ value, timeMs, attrs: { 'messaging.destination.name': 'email', 'agent.queue.state': state } }))
  await post(c.url, '/v1/metrics', metricsBody(resource('shop', 'w1'), [gauge('agent.queue.jobs', '{job}', states({ waiting: 9, active: 1, delayed: 0, failed: 4 }, end - 20_000))]))
  await post(c.url, '/v1/metrics', metricsBody(resource('shop', 'w2'), [gauge('agent.queue.jobs', '{job}', [...states({ waiting: 5, active: 2, delayed: 3, failed: 4 }, end), { value: 1, timeMs: end, attrs: { 'messaging.destination.name': 'reports', 'agent.queue.state': 'waiting' } }])]))

  const jobs = await api<any[]>('/api/jobs?service=shop&range=15m')
  assert.deepEqual(jobs.map((j) => j.name), ['email/send', 'cleanup'])
  const send = jobs[0]
  const all = new LatencyHistogram()
  for (const s of [...completed, 2, 1.5, 1.5, 2, 30]) all.record(s)
  const wait = new LatencyHistogram()
  for (const s of waits) wait.record(s)
  assert.deepEqual(
    [send.queue, send.job, send.system, send.count, send.completed, send.failed, send.retried, send.stalled, send.failureRate, send.p50, send.p95, send.p99, send.waitCount, send.waitMean, send.waitP95],
    ['email', 'send', 'bullmq', 13, 8, 2, 2, 1, round(200 / 13), round(all.quantile(0.5) * 1000), round(all.quantile(0.95) * 1000), round(all.quantile(0.99) * 1000), 10, 5500, round(wait.quantile(0.95) * 1000)],
  )
  assert.equal(send.perSecond, Math.round((13 / 900) * 10_000) / 10_000)
  assert.deepEqual([jobs[1].queue, jobs[1].system, jobs[1].count, jobs[1].completed, jobs[1].waitCount], ['', '', 4, 4, 0])
  // Jobs are not requests, and queue counts are not runtime figures of a process.
  assert.deepEqual((await api<any>('/api/summary?service=shop&range=15m')).endpoints, [])
  assert.ok(!JSON.stringify(await api('/api/runtime?service=shop&range=15m')).includes('agent.queue'))

  const health = await api<any[]>('/api/queues?service=shop&range=15m')
  assert.deepEqual(health.map((q) => [q.queue, q.states]), [['email', { active: 2, delayed: 3, failed: 4, waiting: 5 }], ['reports', { waiting: 1 }]])
  assert.equal(health[0].time, Math.round(end))
})

const CHROMIUM = '/usr/bin/chromium'

test('the dashboard draws it: stacked bars by layer, the N+1 list, the jobs and queues tables, client spans coloured by layer and the caller\'s trace one click away', { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM}: scripts/ensure-chromium.sh installs it when run as root`, timeout: 120_000 }, async (t) => {
  const { c } = await collector()
  t.after(() => c.close())
  const end = Date.now() - 30_000
  const start = end - 60_000
  await post(c.url, '/v1/metrics', metricsBody(resource('shop', 'a'), [
    ...endpointMetrics(Array(4).fill(0.1), [['postgresql', 0.2, 12], ['http', 0.1, 4]], [['postgresql', N1, 3]], start, end),
    expHistogram('agent.job.duration', [histogramPoint([0.2, 0.4], { ...SEND, 'agent.job.outcome': 'completed' }, start, end), histogramPoint([1], { ...SEND, 'agent.job.outcome': 'failed' }, start, end)]),
    expHistogram('agent.job.wait', [histogramPoint([1, 3], { 'messaging.destination.name': 'email', 'agent.job.name': 'send' }, start, end)]),
    gauge('agent.queue.jobs', '{job}', [{ value: 7, timeMs: end, attrs: { 'messaging.destination.name': 'email', 'agent.queue.state': 'waiting' } }, { value: 2, timeMs: end, attrs: { 'messaging.destination.name': 'email', 'agent.queue.state': 'failed' } }]),
  ]))
  const traceId = hex(0x5eed, 32)
  const id = (n: number) => hex(n, 16)
  await post(c.url, '/v1/traces', tracesBody(resource('gateway', 'g'), [
    { traceId, spanId: id(1), name: 'GET /checkout', kind: 2, startMs: end - 5000, endMs: end - 4000, attrs: { 'http.request.method': 'GET', 'http.route': '/checkout', 'agent.trace.reason': 'slow' } },
    { traceId, spanId: id(2), parentSpanId: id(1), name: 'GET', kind: 3, startMs: end - 4990, endMs: end - 4100, attrs: { 'agent.layer': 'http', 'http.request.method': 'GET', 'url.full': 'http://shop/orders/1' } },
  ]))
  await post(c.url, '/v1/traces', tracesBody(resource('shop', 'a'), [
    { traceId, spanId: id(10), parentSpanId: id(2), traceState: 'v=1', name: 'GET /orders/:id', kind: 2, startMs: end - 4980, endMs: end - 4120, attrs: { ...ORDERS, 'agent.trace.reason': 'n_plus_one' } },
    { traceId, spanId: id(11), parentSpanId: id(10), name: 'SELECT', kind: 3, startMs: end - 4970, endMs: end - 4900, attrs: { 'agent.layer': 'postgresql', 'db.system.name': 'postgresql', 'db.query.text': N1 } },
    { traceId, spanId: id(12), parentSpanId: id(10), name: 'GET', kind: 3, startMs: end - 4800, endMs: end - 4300, error: true, attrs: { 'agent.layer': 'http', 'url.full': 'https://payments.example/x', 'error.type': 'ECONNRESET' } },
  ]))

  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
  t.after(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1440, height: 2400 } })
  await page.goto(`${c.url}/?service=shop&range=15m`)
  await page.waitForSelector('body[data-shown="shop 15m"]', { timeout: 15_000 })
  // GET /orders/:id: 400 ms over 4 requests; postgresql 50 ms, http 25 ms, the app 25 ms.
  const bar = await page.$$eval('#layers tr[data-endpoint="GET /orders/:id"] .stack > div', (ds) => ds.map((d) => [d.getAttribute('data-layer'), Number(d.getAttribute('data-mean-ms')), Number(d.getAttribute('data-share')), (d as any).style.width]))
  assert.deepEqual(bar, [['app', 25, 25, '25%'], ['http', 25, 25, '25%'], ['postgresql', 50, 50, '50%']])
  assert.deepEqual(await page.$$eval('#layers tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-kind'), tr.getAttribute('data-endpoint')])), [['job', 'email/send'], ['http', 'GET /orders/:id']], 'most time first')
  const n1 = await page.$$eval('#n-plus-one tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-endpoint'), tr.getAttribute('data-statement'), tr.querySelector('[data-field="requests"]')!.textContent, tr.querySelector('[data-field="share"]')!.textContent, tr.querySelector('a') !== null]))
  assert.deepEqual(n1, [['GET /orders/:id', N1, '3', '75 %', true]])
  const job = await page.$eval('#jobs tr[data-job="email/send"]', (tr) => ['count', 'failed', 'retried', 'wait-mean'].map((f) => tr.querySelector(`[data-field="${f}"]`)!.textContent))
  assert.deepEqual(job, ['3', '1', '0', '2000'])
  assert.deepEqual(await page.$$eval('#queues tr[data-queue="email"] [data-state]', (tds) => tds.map((td) => td.textContent)), ['7', '–', '–', '2'])
  // The trace: its spans coloured by layer, with statement and URL; the caller's span named, and its trace one click away.
  const spans = await page.$$eval('#traces tr.span', (trs) => trs.map((tr) => [tr.getAttribute('data-layer'), tr.querySelector('.detail')!.textContent, (tr.querySelector('.timeline > div') as any).style.backgroundColor]))
  assert.deepEqual(spans, [['postgresql', N1, 'rgb(91, 156, 255)'], ['http', 'https://payments.example/x', 'rgb(126, 231, 135)']])
  const root = await page.textContent(`#traces tr[data-span="${id(10)}"]`)
  assert.ok(root!.includes(traceId) && root!.includes(`parent span ${id(2)}`) && root!.includes('tracestate v=1') && root!.includes('N+1'), root!)
  await page.click(`#traces tr[data-span="${id(10)}"] a[data-open-trace]`)
  await page.waitForSelector('body[data-shown="gateway 15m"]', { timeout: 15_000 })
  await page.waitForSelector(`#trace-detail tr[data-span="${id(1)}"]`)
  assert.match(page.url(), new RegExp(`trace=${traceId}-${id(1)}`))
  assert.equal(await page.$eval('#service', (s) => (s as any).value), 'gateway')
  assert.ok((await page.textContent('#trace-detail'))!.includes('shop: GET /orders/:id'), 'the callee is linked from the caller\'s client span')
  const out = join(import.meta.dirname ?? '.', '..', 'test-output')
  mkdirSync(out, { recursive: true })
  await page.goto(`${c.url}/?service=shop&range=15m`)
  await page.waitForSelector('body[data-shown="shop 15m"]', { timeout: 15_000 })
  await page.screenshot({ path: join(out, 'workload.png'), fullPage: true })
})
