// Database client spans against real servers (PostgreSQL, MariaDB, Redis):
// a real app with the agent exporting to a real OTLP sink, its drivers
// loaded before the agent (CommonJS) or after it (ESM).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startMariadb, startPostgres, startRedis, type DbServer } from '@agent/test-helpers/db-servers.ts'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'
import { runFixture, exitWithin, type Run } from './helpers/fixtures.ts'

let pg: DbServer, mysql: DbServer, redis: DbServer

before(async () => {
  // Each kept as it starts, and all settled before a failure is thrown: `after` stops every one that started.
  const started = await Promise.allSettled([startPostgres().then((s) => (pg = s)), startMariadb().then((s) => (mysql = s)), startRedis().then((s) => (redis = s))])
  for (const s of started) if (s.status === 'rejected') throw s.reason
})

after(async () => {
  await Promise.all([pg?.stop(), mysql?.stop(), redis?.stop()])
})

function serversEnv(): string {
  const conn = (s: DbServer) => ({ host: s.host, port: s.port, user: s.user, password: s.password, database: s.database })
  return JSON.stringify({ pg: conn(pg), mysql: conn(mysql), redis: { host: redis.host, port: redis.port } })
}

interface App {
  run: Run
  sink: OtlpSink
  get(path: string): Promise<{ status: number; body: any }>
  finish(): Promise<void>
}

async function startApp(fixture: string, env: Record<string, string> = {}, sink?: OtlpSink): Promise<App> {
  const ownSink = sink ?? (await OtlpSink.start())
  const run = runFixture(fixture, {
    DB_SERVERS: serversEnv(), AGENT_NAME: 'db-clients', AGENT_KEY: 'k', AGENT_ENDPOINT: ownSink.url, AGENT_LOG_LEVEL: 'warn',
    AGENT_SLOW_REQUEST_MS: '0', AGENT_FLUSH_INTERVAL_MS: '1000', ...env,
  })
  const port = (await run.waitFor(/^listening/, 60_000)).split(' ')[1]
  return {
    run, sink: ownSink,
    async get(path) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`)
      return { status: res.status, body: await res.json() }
    },
    async finish() {
      run.child.send('finish')
      const exit = await exitWithin(run, 20_000)
      assert.notEqual(exit, 'hung', `the app hung; stderr: ${run.stderr}`)
    },
  }
}

type Attrs = Record<string, string | number | boolean>
interface Span { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes: Attrs; status: { code?: number } }
interface Trace { root: Span; clients: Span[] }

function valueOf(v: any): string | number | boolean {
  if ('stringValue' in v) return v.stringValue
  if ('intValue' in v) return Number(v.intValue)
  if ('doubleValue' in v) return v.doubleValue
  return v.boolValue
}

function attrsOf(list: { key: string; value: any }[]): Attrs {
  return Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]))
}

/** Every exported trace: its server span and its client spans. */
function tracesOf(sink: OtlpSink): Trace[] {
  const spans: Span[] = []
  for (const body of sink.payloads('/v1/traces')) for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, attributes: attrsOf(s.attributes) })
  const roots = spans.filter((s) => s.kind === 2)
  return roots.map((root) => ({ root, clients: spans.filter((s) => s.kind === 3 && s.traceId === root.traceId && s.parentSpanId === root.spanId) }))
}

function tracesAt(sink: OtlpSink, path: string): Trace[] {
  return tracesOf(sink).filter((t) => t.root.attributes['url.path'] === path)
}

/** Sum data points of metric `name` whose attributes match. */
function metricPoints(sink: OtlpSink, name: string): Attrs[] {
  const points: Attrs[] = []
  for (const body of sink.payloads('/v1/metrics')) for (const rm of body.resourceMetrics) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
    if (m.name !== name) continue
    for (const p of (m.sum ?? m.gauge).dataPoints) points.push({ ...attrsOf(p.attributes), value: p.asInt !== undefined ? Number(p.asInt) : p.asDouble })
  }
  return points
}

function layerCalls(sink: OtlpSink, route: string, layer: string): number {
  return metricPoints(sink, 'agent.layer.calls').filter((p) => p['http.route'] === route && p['agent.layer'] === layer).reduce((n, p) => n + Number(p.value), 0)
}

/** Waits (bounded) until the sink holds an exported trace of `path`. */
async function exported(sink: OtlpSink, path: string): Promise<void> {
  for (let i = 0; i < 200 && tracesAt(sink, path).length === 0; i++) await new Promise((r) => setTimeout(r, 100))
}

function onlySpan(sink: OtlpSink, path: string): Span[] {
  const traces = tracesAt(sink, path)
  assert.equal(traces.length, 1, `one trace of ${path}, got ${traces.length}`)
  return traces[0]!.clients
}

function assertDbSpan(span: Span | undefined, expected: { layer: string; name: string; text: string; port: number; namespace?: string }): void {
  assert.ok(span, `a ${expected.layer} span ${expected.text}`)
  assert.equal(span.name, expected.name)
  assert.equal(span.attributes['agent.layer'], expected.layer)
  assert.equal(span.attributes['db.system.name'], expected.layer)
  assert.equal(span.attributes['db.operation.name'], expected.name)
  assert.equal(span.attributes['db.query.text'], expected.text)
  assert.equal(span.attributes['server.address'], '127.0.0.1')
  assert.equal(span.attributes['server.port'], expected.port)
  if (expected.namespace !== undefined) assert.equal(span.attributes['db.namespace'], expected.namespace)
  assert.equal(span.attributes['error.type'], undefined)
}

const SCENARIO = ['/pg/literal', '/pg/param', '/pg/callback', '/pg/submittable', '/pg/error', '/pg/error-value', '/mysql/literal', '/mysql/param', '/mysql/format', '/mysql/error', '/ioredis', '/ioredis5', '/redis', '/n1/six', '/n1/two']

test('client spans for pg, mysql2, ioredis and node-redis (drivers loaded before the agent, CommonJS); no value leaves the process', async () => {
  const app = await startApp('db-app.cjs')
  const responses: Record<string, any> = {}
  for (const path of SCENARIO) {
    const { status, body } = await app.get(path)
    assert.equal(status, 200, `${path}: ${JSON.stringify(body)}`)
    responses[path] = body.result
  }
  // Attribution: 50 concurrent requests, each with statements of its own, through pools of 5.
  await exported(app.sink, '/n1/two')
  const ids = Array.from({ length: 50 }, (_, i) => i)
  const results = await Promise.all(ids.map((i) => app.get(`/attr?id=${i}`)))
  assert.deepEqual(results.map((r) => r.body.result), ids)
  await app.finish()
  const sink = app.sink

  // pg: a literal, a parameter, a callback, a submittable; shapes without values.
  assertDbSpan(onlySpan(sink, '/pg/literal')[0], { layer: 'postgresql', name: 'SELECT', text: 'SELECT id, name FROM users WHERE password = ? AND id = ?', port: pg.port, namespace: 'postgres' })
  assertDbSpan(onlySpan(sink, '/pg/param')[0], { layer: 'postgresql', name: 'SELECT', text: 'SELECT id, name FROM users WHERE password = $1', port: pg.port, namespace: 'postgres' })
  assertDbSpan(onlySpan(sink, '/pg/callback')[0], { layer: 'postgresql', name: 'SELECT', text: 'SELECT count(*) AS n FROM users WHERE name = $1', port: pg.port })
  assert.equal(responses['/pg/callback'], '0')
  assertDbSpan(onlySpan(sink, '/pg/submittable')[0], { layer: 'postgresql', name: 'SELECT', text: 'SELECT generate_series(?, ?) AS n', port: pg.port })
  assert.deepEqual(responses['/pg/submittable'], { rows: 3, same: true })

  // Errors: the span has the code, the app its error as without the agent.
  const pgError = onlySpan(sink, '/pg/error')[0]!
  assert.equal(pgError.attributes['error.type'], '42601')
  assert.equal(pgError.status.code, 2)
  assert.equal(onlySpan(sink, '/pg/error-value')[0]!.attributes['error.type'], '22P02')
  const mysqlError = onlySpan(sink, '/mysql/error')[0]!
  assert.equal(mysqlError.attributes['error.type'], 'ER_PARSE_ERROR')
  assert.equal(mysqlError.attributes['db.query.text'], 'SELEC ?')

  // mysql2: a literal, a prepared statement, a client-side formatted query.
  assertDbSpan(onlySpan(sink, '/mysql/literal')[0], { layer: 'mysql', name: 'SELECT', text: 'SELECT id, name FROM users WHERE password = ? AND id = ?', port: mysql.port, namespace: 'agent_test' })
  assertDbSpan(onlySpan(sink, '/mysql/param')[0], { layer: 'mysql', name: 'SELECT', text: 'SELECT id, name FROM users WHERE password = ?', port: mysql.port, namespace: 'agent_test' })
  assertDbSpan(onlySpan(sink, '/mysql/format')[0], { layer: 'mysql', name: 'SELECT', text: 'SELECT id FROM users WHERE password = ?', port: mysql.port })

  // Redis: the command and a ? per argument (keys too).
  const io = onlySpan(sink, '/ioredis')
  assertDbSpan(io.find((s) => s.name === 'SET'), { layer: 'redis', name: 'SET', text: 'SET ? ?', port: redis.port, namespace: '0' })
  assertDbSpan(io.find((s) => s.name === 'GET'), { layer: 'redis', name: 'GET', text: 'GET ?', port: redis.port })
  assert.equal(responses['/ioredis'], 'hunter2')
  // ioredis 5.10, which publishes nothing: the sendCommand wrapper, the same spans; an error reply is the span's error.
  const io5 = onlySpan(sink, '/ioredis5')
  assert.deepEqual(io5.map((s) => [s.attributes['db.query.text'], s.attributes['error.type'] ?? null]), [['SET ? ?', null], ['GET ?', null], ['INCR ?', 'ReplyError']])
  assertDbSpan(io5[0], { layer: 'redis', name: 'SET', text: 'SET ? ?', port: redis.port, namespace: '0' })
  assert.deepEqual(responses['/ioredis5'], ['hunter2', 'ReplyError'])
  const nr = onlySpan(sink, '/redis')
  assertDbSpan(nr.find((s) => s.name === 'SET'), { layer: 'redis', name: 'SET', text: 'SET ? ?', port: redis.port })
  assertDbSpan(nr.find((s) => s.name === 'GET'), { layer: 'redis', name: 'GET', text: 'GET ?', port: redis.port })
  assertDbSpan(nr.find((s) => s.name === 'MULTI'), { layer: 'redis', name: 'MULTI', text: 'MULTI', port: redis.port })
  assert.deepEqual(responses['/redis'], ['hunter2', ['OK', 'hunter2']])

  // No value, anywhere in anything exported.
  assert.ok(sink.received.length > 0)
  for (const r of sink.received) assert.ok(!r.raw.includes('hunter2'), `a value in ${r.path}`)

  // Per endpoint: calls by layer, and N+1 at the default threshold (5).
  assert.equal(layerCalls(sink, '/pg/literal', 'postgresql'), 1)
  assert.equal(layerCalls(sink, '/ioredis', 'redis'), 2)
  assert.equal(layerCalls(sink, '/n1/six', 'postgresql'), 6)
  assert.equal(layerCalls(sink, '/n1/two', 'postgresql'), 2)
  const flagged = metricPoints(sink, 'agent.n_plus_one.requests')
  assert.deepEqual(flagged.filter((p) => p['http.route'] === '/n1/six').map((p) => [p['agent.layer'], p['db.query.text'], p.value]), [['postgresql', 'SELECT name FROM users WHERE id = $1', 1]])
  assert.equal(flagged.filter((p) => p['http.route'] === '/n1/two').length, 0)

  // Every exported request has its own three statements, none of another's.
  const attr = tracesAt(sink, '/attr')
  assert.ok(attr.length >= 20, `${attr.length} traces of /attr`)
  const seen = new Set<string>()
  for (const t of attr) {
    const texts = t.clients.map((s) => String(s.attributes['db.query.text']))
    assert.equal(texts.length, 3, JSON.stringify(texts))
    const id = /req_(\d+)/.exec(texts[0]!)![1]!
    assert.deepEqual(texts.sort(), [`SELECT $1::int AS req_${id}`, `SELECT $1::int AS req_${id}`, `SELECT ? AS req_${id}`].sort())
    assert.ok(!seen.has(id), `req_${id} in two traces`)
    seen.add(id)
  }
  assert.equal(layerCalls(sink, '/attr', 'postgresql'), 100)
  assert.equal(layerCalls(sink, '/attr', 'mysql'), 50)
  await sink.close()
})

test('the app gets the same results and errors without the agent', async () => {
  const responses: Record<string, any>[] = []
  for (const env of [{ AGENT_START: '0' }, {}] as Record<string, string>[]) {
    const app = await startApp('db-app.cjs', env)
    const got: Record<string, any> = {}
    for (const path of ['/pg/error', '/pg/error-value', '/mysql/error', '/pg/submittable', '/pg/callback', '/mysql/param', '/ioredis5']) got[path] = (await app.get(path)).body
    await app.finish()
    await app.sink.close()
    responses.push(got)
  }
  assert.equal(responses[0]!['/pg/error'].result.code, '42601')
  assert.deepEqual(responses[1], responses[0])
})

test('nPlusOneThreshold: at 2, an endpoint running a statement twice is flagged', async () => {
  const app = await startApp('db-app.cjs', { AGENT_N_PLUS_ONE_THRESHOLD: '2' })
  await app.get('/n1/two')
  await app.get('/pg/literal')
  await app.finish()
  const flagged = metricPoints(app.sink, 'agent.n_plus_one.requests')
  assert.deepEqual(flagged.map((p) => [p['http.route'], p['db.query.text'], p.value]), [['/n1/two', 'SELECT name FROM users WHERE id = $1', 1]])
  await app.sink.close()
})

test('ESM app: the drivers imported after the agent started (import pg from "pg") get client spans', async () => {
  const app = await startApp('db-app-esm.ts')
  for (const path of ['/pg/literal', '/pg/callback', '/pg/submittable', '/pg/error', '/mysql/param', '/ioredis', '/redis']) assert.equal((await app.get(path)).status, 200, path)
  await app.finish()
  const sink = app.sink
  assertDbSpan(onlySpan(sink, '/pg/literal')[0], { layer: 'postgresql', name: 'SELECT', text: 'SELECT id, name FROM users WHERE password = ? AND id = ?', port: pg.port })
  assertDbSpan(onlySpan(sink, '/pg/callback')[0], { layer: 'postgresql', name: 'SELECT', text: 'SELECT count(*) AS n FROM users WHERE name = $1', port: pg.port })
  assertDbSpan(onlySpan(sink, '/pg/submittable')[0], { layer: 'postgresql', name: 'SELECT', text: 'SELECT generate_series(?, ?) AS n', port: pg.port })
  assert.equal(onlySpan(sink, '/pg/error')[0]!.attributes['error.type'], '42601')
  assertDbSpan(onlySpan(sink, '/mysql/param')[0], { layer: 'mysql', name: 'SELECT', text: 'SELECT id, name FROM users WHERE password = ?', port: mysql.port })
  assert.deepEqual(onlySpan(sink, '/ioredis').map((s) => s.attributes['db.query.text']), ['SET ? ?', 'GET ?'])
  assert.deepEqual(onlySpan(sink, '/redis').map((s) => s.attributes['db.query.text']).sort(), ['GET ?', 'MULTI', 'SET ? ?'])
  for (const r of sink.received) assert.ok(!r.raw.includes('hunter2'), `a value in ${r.path}`)
  await sink.close()
})
