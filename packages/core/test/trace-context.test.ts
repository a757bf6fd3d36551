// W3C trace context end to end: two real services, A calling B with fetch and
// with http.get, both exporting to one sink.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'
import { get } from '@agent/test-helpers/load.ts'
import { runFixture, exitWithin, type Run } from './helpers/fixtures.ts'
import { formatTraceparent, parseTraceparent } from '../src/trace-context.ts'

test('parseTraceparent takes valid headers and ignores the invalid ones the spec lists', () => {
  const valid = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
  assert.deepEqual(parseTraceparent(valid, 'vendor=a'), { traceId: '0af7651916cd43dd8448eb211c80319c', parentSpanId: 'b7ad6b7169203331', flags: '01', traceState: 'vendor=a' })
  assert.equal(parseTraceparent(valid.replace('00-', 'ff-')), undefined, 'version ff')
  assert.equal(parseTraceparent('00-00000000000000000000000000000000-b7ad6b7169203331-01'), undefined, 'zero trace id')
  assert.equal(parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01'), undefined, 'zero parent id')
  assert.equal(parseTraceparent(valid.toUpperCase()), undefined, 'upper-case hex')
  assert.equal(parseTraceparent(valid + '-extra'), undefined, 'version 00 has four fields')
  assert.ok(parseTraceparent('01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra'), 'a later version may add fields')
  assert.equal(parseTraceparent('garbage'), undefined)
  assert.equal(parseTraceparent(undefined), undefined)
  assert.equal(parseTraceparent(['a', 'b']), undefined)
  assert.equal(parseTraceparent(valid, 'x'.repeat(600))?.traceState, undefined, 'an oversized tracestate is dropped')
  assert.equal(formatTraceparent({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), flags: '00' }, 'c'.repeat(16)), `00-${'a'.repeat(32)}-${'c'.repeat(16)}-00`)
})

async function startService(name: string, sink: OtlpSink, env: Record<string, string> = {}): Promise<{ run: Run; url: string }> {
  const run = runFixture('calling-service.ts', { AGENT_NAME: name, AGENT_ENDPOINT: sink.url, AGENT_SLOW_REQUEST_MS: '0', AGENT_FLUSH_INTERVAL_MS: '1000', AGENT_LOG_LEVEL: 'warn', ...env })
  const port = (await run.waitFor(/^listening/)).split(' ')[1]
  return { run, url: `http://127.0.0.1:${port}` }
}

async function stop(...runs: Run[]): Promise<void> {
  for (const run of runs) run.child.send('finish')
  for (const run of runs) assert.notEqual(await exitWithin(run, 10_000), 'hung')
}

/** Waits (bounded) until the sink holds what `ready` looks for. */
async function until<T>(ready: () => T | undefined, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = ready()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const rootOf = (spans: any[], service: string, path: string) => spans.find((s) => s.kind === 2 && s.resource['service.name'] === service && s.attrs['url.path'] === path)
const hex = (id: string | undefined) => (id ? Buffer.from(id, 'hex').toString('hex') : undefined)

test('A calls B with fetch and with http.get: one trace across both, B\'s server span a child of A\'s client span', async () => {
  const sink = await OtlpSink.start()
  const b = await startService('svc-b', sink)
  const a = await startService('svc-a', sink, { DOWNSTREAM: b.url })
  try {
    for (const call of ['fetch', 'get'] as const) {
      const response = await get(`${a.url}/${call}/7`)
      assert.equal(response.status, 200)
      const sent = parseTraceparent(response.body)
      assert.ok(sent, `B received a valid traceparent over ${call}: ${response.body}`)
      const [aRoot, bRoot] = await until(() => {
        const spans = sink.spans()
        const aRoot = rootOf(spans, 'svc-a', `/${call}/7`)
        const bRoot = aRoot && spans.find((s) => s.kind === 2 && s.resource['service.name'] === 'svc-b' && s.traceId === aRoot.traceId)
        return bRoot ? [aRoot, bRoot] : undefined
      }, `both services' spans of the ${call} call`)
      const aClient = sink.spans().find((s) => s.kind === 3 && s.traceId === aRoot.traceId)
      assert.ok(aClient, `A exported its ${call} client span`)
      assert.equal(aClient.attrs['agent.layer'], 'http')
      assert.equal(aClient.attrs['http.request.method'], 'GET')
      assert.equal(aClient.attrs['http.response.status_code'], 200)
      assert.equal(aClient.attrs['url.full'], `${b.url}/echo/7`)
      assert.equal(aClient.parentSpanId, aRoot.spanId)
      assert.equal(bRoot.parentSpanId, aClient.spanId, 'B\'s server span is a child of A\'s client span')
      assert.equal(sent.traceId, aRoot.traceId)
      assert.equal(sent.parentSpanId, aClient.spanId)
      assert.equal(aRoot.parentSpanId, undefined, 'A was called without a traceparent: a root')
    }
  } finally {
    await stop(a.run, b.run)
    await sink.close()
  }
})

test('an incoming traceparent is continued; a malformed one changes nothing', async () => {
  const sink = await OtlpSink.start()
  const b = await startService('svc-b', sink)
  try {
    const caller = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    const continued = await get(`${b.url}/echo/1`, { traceparent: caller, tracestate: 'vendor=x' })
    assert.equal(continued.body, caller, 'the app sees the header it was sent')
    const malformed = await get(`${b.url}/echo/2`, { traceparent: '00-xyz-not-a-header' })
    assert.equal(malformed.status, 200)
    assert.equal(malformed.body, '00-xyz-not-a-header')
    const [one, two] = await until(() => {
      const spans = sink.spans()
      const pair = [rootOf(spans, 'svc-b', '/echo/1'), rootOf(spans, 'svc-b', '/echo/2')]
      return pair.every(Boolean) ? pair : undefined
    }, 'both traces')
    assert.equal(hex(one.traceId), '0af7651916cd43dd8448eb211c80319c')
    assert.equal(hex(one.parentSpanId), 'b7ad6b7169203331')
    assert.equal(one.traceState, 'vendor=x')
    assert.notEqual(hex(two.traceId), '0af7651916cd43dd8448eb211c80319c')
    assert.match(two.traceId, /^[0-9a-f]{32}$/)
    assert.equal(two.parentSpanId, undefined)
  } finally {
    await stop(b.run)
    await sink.close()
  }
})

test('time by layer: three overlapping fetches count three calls and no more time than the request took; an N+1 loop is flagged by its shape', async () => {
  const sink = await OtlpSink.start()
  const b = await startService('svc-b', sink)
  const a = await startService('svc-a', sink, { DOWNSTREAM: b.url, AGENT_N_PLUS_ONE_THRESHOLD: '4' })
  try {
    for (let i = 0; i < 5; i++) assert.equal((await get(`${a.url}/parallel`)).status, 200)
    assert.equal((await get(`${a.url}/loop/4`)).status, 200)
    assert.equal((await get(`${a.url}/loop/3`)).status, 200)
    assert.equal((await get(`${a.url}/plain`)).status, 200)
    const inA = (route: string) => (r: Record<string, unknown>, p: Record<string, unknown>) => r['service.name'] === 'svc-a' && p['http.route'] === route
    await until(() => (sink.requests(inA('/loop/:id')) === 2 && sink.requests(inA('/parallel')) === 5 && sink.requests(inA('/plain')) === 1 ? true : undefined), 'every request of A')
    assert.equal(sink.sumOf('agent.layer.calls', inA('/parallel')), 15)
    const layerTime = sink.sumOf('agent.layer.duration', inA('/parallel'))
    const spans = await until(() => {
      const ofA = sink.spans().filter((s) => s.resource['service.name'] === 'svc-a')
      return ofA.filter((s) => s.kind === 2).length === 8 ? ofA : undefined
    }, 'the 8 traces of A')
    const parallelRoots = spans.filter((s) => s.kind === 2 && s.attrs['http.route'] === '/parallel')
    assert.equal(parallelRoots.length, 5)
    const requestTime = parallelRoots.reduce((t, s) => t + (Number(BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1e9), 0)
    assert.ok(layerTime > 0 && layerTime <= requestTime + 1e-6, `layer time ${layerTime} s within request time ${requestTime} s`)
    // Each request's client spans lie inside it, and their union is what the layer counted.
    assert.equal(sink.sumOf('agent.layer.calls', inA('/plain')), 0, 'no call, no layer')
    const flagged = sink.sumOf('agent.n_plus_one.requests', (r, p) => r['service.name'] === 'svc-a' && p['db.query.text'] === `GET ${b.url}/echo/:id`)
    assert.equal(flagged, 1, 'the request of 4 calls is flagged by its shape; the one of 3 is not')
    const example = spans.find((s) => s.kind === 2 && s.attrs['url.path'] === '/loop/4')
    assert.ok(example, 'the flagged request\'s trace is kept')
  } finally {
    await stop(a.run, b.run)
    await sink.close()
  }
})

test('50 concurrent requests each calling out: every call carries its own request\'s trace, and every exported client span sits in its own request\'s trace', async () => {
  const sink = await OtlpSink.start()
  const b = await startService('svc-b', sink)
  const a = await startService('svc-a', sink, { DOWNSTREAM: b.url })
  try {
    // On Node 20 and 22 the context turns on at the first call out: one request first, so none is in doubt.
    assert.equal((await get(`${a.url}/plain`)).status, 200)
    assert.equal((await get(`${a.url}/fetch/warm`)).status, 200)
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => get(`${a.url}/${i % 2 ? 'fetch' : 'get'}/${i}`)))
    assert.ok(results.every((r) => r.status === 200))
    // B echoes the traceparent each call came with, and A answers with it.
    const sentTraces = results.map((r) => parseTraceparent(r.body)?.traceId)
    assert.ok(sentTraces.every(Boolean), 'every call carried a traceparent')
    assert.equal(new Set(sentTraces).size, 50, 'each request its own trace')
    // The slowest 20 of the interval are exported: each is the trace its call carried, with its one client span.
    const roots = await until(() => {
      const found = sink.spans().filter((s) => s.kind === 2 && s.resource['service.name'] === 'svc-a' && /^\/(fetch|get)\/\d+$/.test(String(s.attrs['url.path'])))
      return found.length >= 10 ? found : undefined
    }, 'A\'s traces')
    const clients = sink.spans().filter((s) => s.kind === 3 && s.resource['service.name'] === 'svc-a')
    for (const root of roots) {
      const i = Number(String(root.attrs['url.path']).split('/')[2])
      assert.equal(root.traceId, sentTraces[i], `request ${i}'s trace is the one its call carried`)
      const own = clients.filter((c) => c.traceId === root.traceId)
      assert.equal(own.length, 1)
      assert.equal(own[0].attrs['url.full'], `${b.url}/echo/${i}`)
      assert.equal(own[0].parentSpanId, root.spanId)
    }
  } finally {
    await stop(a.run, b.run)
    await sink.close()
  }
})
