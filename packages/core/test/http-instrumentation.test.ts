import { test } from 'node:test'
import assert from 'node:assert/strict'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { HttpInstrumentation, recordOf } from '../src/http-instrumentation.ts'
import type { RequestRecord } from '../src/request-record.ts'

interface Finished { url: string; aborted: boolean; record: RequestRecord }

/** A real server measured by the instrumentation alone; `handle` answers each request. */
async function measured(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const finished: Finished[] = []
  const seen = new Map<string, RequestRecord | undefined>()
  const instrumentation = new HttpInstrumentation(
    { ignores: () => false, finish: (record, _res, aborted) => void finished.push({ url: record.url, aborted, record }) },
    { onRequestStart: () => {} },
  )
  instrumentation.enable()
  const server = http.createServer((req, res) => {
    seen.set(req.url!, recordOf(req))
    handle(req, res)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  return {
    port, finished, seen,
    async close() {
      instrumentation.disable()
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}

/** Writes raw HTTP/1.1 on one connection and reads until `until` matches or the server closes it. */
async function rawExchange(port: number, requests: string, until: RegExp): Promise<string> {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write(requests)
  let text = ''
  socket.setEncoding('utf8')
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 5000)
    socket.on('data', (d) => { text += d; if (until.test(text)) { clearTimeout(timer); resolve() } })
    socket.on('close', () => { clearTimeout(timer); resolve() })
  })
  socket.destroy()
  return text
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`

test('each request on a keep-alive connection has its own record, and none outlives its response', async () => {
  const requests: IncomingMessage[] = []
  const s = await measured((req, res) => { requests.push(req); res.end('ok') })
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  try {
    for (const path of ['/a', '/b', '/c']) {
      const res = await new Promise<IncomingMessage>((resolve, reject) => http.get({ host: '127.0.0.1', port: s.port, path, agent }, resolve).on('error', reject))
      res.resume()
      await once(res, 'end')
    }
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(new Set(requests.map((r) => r.socket)).size, 1, 'one connection served all three')
    assert.deepEqual(s.finished.map((f) => [f.url, f.aborted]), [['/a', false], ['/b', false], ['/c', false]])
    assert.deepEqual([...s.seen.entries()].map(([url, record]) => record?.url === url), [true, true, true])
    assert.equal(new Set(s.finished.map((f) => f.record)).size, 3)
    // The connection keeps at most the last record, never a request.
    for (const req of requests) assert.equal(recordOf(req), undefined)
    for (const f of s.finished) assert.equal(f.record.req, undefined)
  } finally {
    agent.destroy()
    await s.close()
  }
})

test('requests pipelined on one connection are measured each on its own', async () => {
  const requests: IncomingMessage[] = []
  const s = await measured((req, res) => { requests.push(req); res.end('ok') })
  try {
    await rawExchange(s.port, get('/a') + get('/b') + get('/c'), /(ok[\s\S]*){3}/)
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(s.finished.map((f) => [f.url, f.aborted]), [['/a', false], ['/b', false], ['/c', false]])
    assert.deepEqual([...s.seen.entries()].map(([url, record]) => record?.url === url), [true, true, true])
    for (const req of requests) assert.equal(recordOf(req), undefined)
  } finally {
    await s.close()
  }
})

test('a request pipelined behind a slow one is measured on its own', async () => {
  const s = await measured((req, res) => {
    // The first answer waits, so the second request arrives while it is in flight.
    if (req.url === '/slow') setTimeout(() => res.end('slow'), 100)
    else res.end('fast')
  })
  try {
    const text = await rawExchange(s.port, get('/slow') + get('/fast'), /slow[\s\S]*fast/)
    assert.match(text, /slow[\s\S]*fast/, 'HTTP/1.1 answers pipelined requests in order')
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(s.seen.get('/slow')?.url, '/slow')
    assert.equal(s.seen.get('/fast')?.url, '/fast')
    assert.deepEqual(s.finished.map((f) => [f.url, f.aborted]).sort(), [['/fast', false], ['/slow', false]])
  } finally {
    await s.close()
  }
})

test('a client that goes away mid-response is counted once, as aborted, on a reused connection and behind a pipelined one', async () => {
  const s = await measured((req, res) => {
    if (req.url === '/first' || req.url === '/slow') res.end(req.url)
    else res.write('partial') // never ends: the client hangs up
  })
  try {
    // One after the other on one connection: the second is the connection's own request.
    const socket = net.connect(s.port, '127.0.0.1')
    socket.setEncoding('utf8')
    let text = ''
    socket.on('data', (d) => (text += d))
    const until = async (re: RegExp) => { for (let i = 0; i < 250 && !re.test(text); i++) await new Promise((r) => setTimeout(r, 20)) }
    socket.write(get('/first'))
    await until(/\/first/)
    socket.write(get('/hang'))
    await until(/partial/)
    socket.destroy()
    // Pipelined behind an answered one: the second waits in the pipeline's map.
    await rawExchange(s.port, get('/slow') + get('/hang-pipelined'), /\/slow[\s\S]*partial/)
    for (let i = 0; i < 50 && s.finished.length < 4; i++) await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(s.finished.map((f) => [f.url, f.aborted]), [['/first', false], ['/hang', true], ['/slow', false], ['/hang-pipelined', true]])
  } finally {
    await s.close()
  }
})

test('an agent failure inside the request path never reaches the app', async () => {
  const uncaught: unknown[] = []
  const onUncaught = (err: unknown) => uncaught.push(err)
  process.on('uncaughtException', onUncaught)
  const instrumentation = new HttpInstrumentation(
    { ignores: () => false, finish: () => { throw new Error('agent bug at finish') } },
    { onRequestStart: () => { throw new Error('agent bug at start') } },
  )
  instrumentation.enable()
  const server = http.createServer((_req, res) => res.end('ok'))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  try {
    const text = await rawExchange(port, get('/a') + get('/b') + get('/c'), /(ok[\s\S]*){3}/)
    assert.equal(text.match(/200 OK/g)?.length, 3)
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(uncaught, [])
  } finally {
    process.off('uncaughtException', onUncaught)
    instrumentation.disable()
    server.closeAllConnections()
    server.close()
  }
})
