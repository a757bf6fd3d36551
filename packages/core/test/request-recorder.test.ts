// What a request's end becomes: names for requests no route answered stay
// bounded and never take a routed endpoint's slot.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { Agent } from '../src/agent.ts'
import { nameRequest } from '../src/request-naming.ts'
import { OVERFLOW_ROUTE } from '../src/aggregator.ts'
import { get } from '@agent/test-helpers/load.ts'

async function serve(agent: Agent, handle: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  agent.start()
  const server = http.createServer(handle)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  return { port, close: () => { agent.stop(); server.closeAllConnections(); server.close() } }
}

const options = { name: 't', key: 'k', endpoint: 'http://127.0.0.1:9', logLevel: 'silent' as const, flushIntervalMs: 60_000, maxEndpoints: 20, forceStart: true }

test('with a framework naming routes: 600 URLs answered 401 before any route share one name, and a real route keeps its own endpoint', async () => {
  const agent = new Agent(options)
  agent.recorder.routesExpected = true
  const app = await serve(agent, (req, res) => {
    if (req.url === '/orders/7') {
      nameRequest(req, '/orders/:id')
      res.end('order')
      return
    }
    res.statusCode = 401 // an API-key middleware answering before any route
    res.end()
  })
  try {
    for (let i = 0; i < 600; i++) assert.equal((await get(`http://127.0.0.1:${app.port}/p${i}.php`)).status, 401)
    assert.equal((await get(`http://127.0.0.1:${app.port}/orders/7`)).status, 200)
    const endpoints = agent.recorder.takeInterval().endpoints
    const byName = Object.fromEntries(endpoints.map((e) => [e.route, e.count]))
    assert.equal(byName['/orders/:id'], 1, JSON.stringify(byName))
    assert.equal(byName['(unmatched 4xx)'], 600)
    assert.equal(byName[OVERFLOW_ROUTE], undefined)
    assert.equal(endpoints.length, 2)
  } finally {
    app.close()
  }
})

test('without a framework: paths are named, at most 50 per interval, the rest by status class, and routes keep their cap', async () => {
  const agent = new Agent(options)
  const app = await serve(agent, (req, res) => {
    if (req.url === '/named') nameRequest(req, '/named')
    res.end('ok')
  })
  try {
    for (let i = 0; i < 120; i++) await get(`http://127.0.0.1:${app.port}/page-${i}/x`)
    await get(`http://127.0.0.1:${app.port}/named`)
    const endpoints = agent.recorder.takeInterval().endpoints
    const names = endpoints.map((e) => e.route)
    assert.equal(names.filter((n) => n.startsWith('/page-')).length, 50)
    assert.equal(endpoints.find((e) => e.route === '(unmatched 2xx)')?.count, 70)
    assert.equal(endpoints.find((e) => e.route === '/named')?.count, 1, 'the named route is not pushed out by the unnamed ones')
    assert.equal(endpoints.reduce((n, e) => n + e.count, 0), 121)
  } finally {
    app.close()
  }
})

test('without a framework: a URL seen again gets the name it got, query or not; the next interval admits names anew, counting ones seen just before', async () => {
  const agent = new Agent(options)
  const app = await serve(agent, (_req, res) => res.end('ok'))
  const url = (path: string) => `http://127.0.0.1:${app.port}${path}`
  try {
    for (let i = 0; i < 50; i++) await get(url(`/page-${i}/x`))
    await get(url('/page-0/x?q=1'))
    await get(url('/other/y')) // the 51st path: over the interval's cap
    await get(url('/other/y'))
    await get(url('/page-0/x'))
    const first = Object.fromEntries(agent.recorder.takeInterval().endpoints.map((e) => [e.route, e.count]))
    assert.equal(first['/page-0/x'], 3, JSON.stringify(first))
    assert.equal(first['/other/y'], undefined)
    assert.equal(first['(unmatched 2xx)'], 2)

    // The last URL of the interval before comes first: it takes one of this interval's 50 names.
    await get(url('/page-0/x'))
    for (let i = 0; i < 50; i++) await get(url(`/new-${i}/z`))
    const second = agent.recorder.takeInterval().endpoints
    assert.equal(second.filter((e) => e.route.startsWith('/')).length, 50, JSON.stringify(second.map((e) => e.route)))
    assert.equal(second.find((e) => e.route === '/page-0/x')?.count, 1)
    assert.equal(second.find((e) => e.route === '(unmatched 2xx)')?.count, 1)
  } finally {
    app.close()
  }
})
