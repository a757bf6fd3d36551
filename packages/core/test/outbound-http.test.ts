import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { ClientCall } from '../src/client-calls.ts'
import { layerIndex } from '../src/layer-clock.ts'
import { OutboundHttp } from '../src/outbound-http.ts'
import { requestContext, wantContext } from '../src/request-context.ts'
import { RequestRecord, startNow } from '../src/request-record.ts'

/** A record in flight holds its request (a stand-in here): one without is done. */
const inFlight = (record: RequestRecord) => Object.assign(record, { req: {} })

const outbound = new OutboundHttp()
let server: http.Server
let port: number
const seen: (string | undefined)[] = []

before(async () => {
  server = http.createServer((req, res) => {
    seen.push(req.headers.traceparent as string | undefined)
    res.statusCode = req.url!.startsWith('/missing') ? 404 : 200
    res.end('ok')
  })
  await new Promise<void>((resolve) => server.listen(0, '::1', resolve))
  port = (server.address() as AddressInfo).port
  wantContext()
  outbound.enable()
})

after(() => {
  outbound.disable()
  server.close()
})

const get = (path: string) => new Promise<void>((resolve, reject) => {
  http.get({ host: '::1', port, path }, (res) => res.resume().on('end', resolve)).on('error', reject)
})

test('calls to an IPv6 peer with http.get and fetch: the address without brackets, one shape per path pattern, the query never kept', async () => {
  const record = inFlight(new RequestRecord('/page', startNow('GET')))
  await requestContext.run(record, async () => {
    await get('/items/1?session=abc')
    await get('/items/2')
    await (await fetch(`http://[::1]:${port}/items/3?session=abc`)).text()
    await (await fetch(`http://[::1]:${port}/missing/4`)).text()
  })
  const spans = record.spans!.map((s) => (s as ClientCall).toSpan())
  assert.equal(spans.length, 4)
  for (const span of spans) {
    assert.equal(span.attributes!['server.address'], '::1')
    assert.equal(span.attributes!['server.port'], port)
    assert.ok(!String(span.attributes!['url.full']).includes('session'), 'the query holds values')
  }
  assert.deepEqual(spans.map((s) => s.attributes!['url.full']), [1, 2, 3].map((n) => `http://[::1]:${port}/items/${n}`).concat(`http://[::1]:${port}/missing/4`))
  assert.deepEqual(spans.map((s) => s.error), [undefined, undefined, undefined, '404'])
  assert.deepEqual([...record.statements![layerIndex.http]!], [[`GET http://[::1]:${port}/items/:id`, 3], [`GET http://[::1]:${port}/missing/:id`, 1]])
  // Each call told the server its own span as the parent, in the request's trace.
  assert.deepEqual(seen.map((t) => t?.split('-')[2]), spans.map((s) => s.spanId))
  assert.ok(seen.every((t) => t?.split('-')[1] === record.trace!.traceId))
})

test('many distinct paths (an id per call) are shaped alike and the calls stay correct past the shapes remembered', async () => {
  const record = inFlight(new RequestRecord('/crawl', startNow('GET')))
  await requestContext.run(record, async () => {
    for (let i = 0; i < 40; i++) await (await fetch(`http://[::1]:${port}/users/${1000 + i}/orders/${'x'.repeat(i * 10)}`)).text()
  })
  const shapes = [...record.statements![layerIndex.http]!.keys()]
  assert.ok(shapes.every((s) => s.startsWith(`GET http://[::1]:${port}/users/:id/orders/`)), shapes.join('\n'))
  assert.equal([...record.statements![layerIndex.http]!.values()].reduce((a, b) => a + b, 0), 40)
})
