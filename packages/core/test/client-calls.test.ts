import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ClientCall, startClientCall, type CallPeer } from '../src/client-calls.ts'
import { layerIndex } from '../src/layer-clock.ts'
import { requestContext, wantContext } from '../src/request-context.ts'
import { RequestRecord, startNow } from '../src/request-record.ts'

/** A record in flight holds its request (a stand-in here): one without is done. */
const inFlight = (record: RequestRecord) => Object.assign(record, { req: {} })

const pgPeer: CallPeer = { attributes: { 'db.system.name': 'postgresql', 'server.address': '127.0.0.1', 'server.port': 5432 } }
const httpPeer: CallPeer = { attributes: { 'server.address': 'api.internal', 'server.port': 8080 }, origin: 'http://api.internal:8080' }

function inRequest<T>(run: (record: RequestRecord) => T): [RequestRecord, T] {
  wantContext()
  const record = inFlight(new RequestRecord('/orders/7', startNow('GET')))
  return [record, requestContext.run(record, () => run(record))]
}

test('outside a request there is no call, and nothing is counted', () => {
  wantContext()
  assert.equal(startClientCall('postgresql', 'SELECT', 'SELECT ?', pgPeer), undefined)
})

test('a database call: its layer counted, its statement counted per layer, exported with the shape and the peer, never the peer copied before', () => {
  const [record, call] = inRequest(() => startClientCall('postgresql', 'SELECT', 'SELECT * FROM t WHERE id = $1', pgPeer))
  assert.ok(call instanceof ClientCall)
  assert.equal(record.layers!.calls[layerIndex.postgresql], 1)
  assert.equal(record.statements![layerIndex.postgresql]!.get('SELECT * FROM t WHERE id = $1'), 1)
  call.end()
  call.end(new Error('a second end changes nothing'))
  assert.deepEqual(record.spans, [call], 'the call itself is the span until it is exported')
  const span = call.toSpan()
  assert.equal(span.name, 'SELECT')
  assert.equal(span.client, true)
  assert.equal(span.error, undefined)
  assert.ok(span.durationMs >= 0 && span.offsetMs >= 0)
  assert.deepEqual(span.attributes, {
    'db.system.name': 'postgresql', 'server.address': '127.0.0.1', 'server.port': 5432,
    'agent.layer': 'postgresql', 'db.operation.name': 'SELECT', 'db.query.text': 'SELECT * FROM t WHERE id = $1',
  })
  assert.equal(Object.keys(pgPeer.attributes).length, 3, 'the shared peer is never written')
})

test('the same statement in two layers is counted in each, not together', () => {
  const [record] = inRequest(() => {
    for (let i = 0; i < 3; i++) startClientCall('postgresql', 'SELECT', 'SELECT ?', pgPeer)?.end()
    for (let i = 0; i < 2; i++) startClientCall('mysql', 'SELECT', 'SELECT ?', { attributes: { 'db.system.name': 'mysql' } })?.end()
  })
  assert.equal(record.statements![layerIndex.postgresql]!.get('SELECT ?'), 3)
  assert.equal(record.statements![layerIndex.mysql]!.get('SELECT ?'), 2)
})

test('an HTTP call: url.full without the query, the status, and a 4xx or 5xx as its error type; its traceparent names its own span', () => {
  const [record, call] = inRequest(() => startClientCall('http', 'GET', 'GET http://api.internal:8080/items/:id', httpPeer, '/items/42?token=s3cret'))
  const traceparent = call!.traceparent()
  assert.match(traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  assert.equal(traceparent.split('-')[1], record.trace!.traceId, 'the request trace')
  call!.end(undefined, 503)
  const span = call!.toSpan()
  assert.equal(span.spanId, traceparent.split('-')[2], 'the span the callee will name as its parent')
  assert.equal(span.error, '503')
  assert.deepEqual(span.attributes, {
    'server.address': 'api.internal', 'server.port': 8080, 'agent.layer': 'http', 'http.request.method': 'GET',
    'url.full': 'http://api.internal:8080/items/42', 'http.response.status_code': 503, 'error.type': '503',
  })
  assert.ok(!JSON.stringify(span).includes('s3cret'), 'the query is a value')
})

test('a failed call exports its code or class, never its message', () => {
  const [, calls] = inRequest(() => ['42601', undefined].map((code) => {
    const call = startClientCall('postgresql', 'SELECT', 'SELECT ?', pgPeer)!
    call.end(Object.assign(new TypeError("Duplicate entry 'a@b.c'"), code ? { code } : {}))
    return call.toSpan()
  }))
  assert.deepEqual(calls.map((s) => s.error), ['42601', 'TypeError'])
  assert.ok(!JSON.stringify(calls).includes('a@b.c'))
})

test('a call that outlives its request is not one of its spans, nor in its layers', () => {
  const [record, call] = inRequest(() => startClientCall('redis', 'GET', 'GET ?', { attributes: { 'db.system.name': 'redis' } }))
  record.req = undefined // its end
  call!.end()
  assert.equal(record.spans, undefined)
  assert.equal(record.layers!.timeMs[layerIndex.redis], 0)
})
