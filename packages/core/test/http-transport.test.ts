import { test } from 'node:test'
import assert from 'node:assert/strict'
import dc from 'node:diagnostics_channel'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { NOT_HTTP, send, SendError, type SendOptions } from '../src/http-transport.ts'

const options: SendOptions = { connectTimeoutMs: 1000, totalTimeoutMs: 3000, headers: { 'content-type': 'application/json', 'x-agent-key': 'k' } }

/** A real HTTP server on loopback that counts its connections. */
async function server(handle: http.RequestListener, host = '127.0.0.1') {
  const srv = http.createServer(handle)
  let connections = 0
  srv.on('connection', () => connections++)
  await new Promise<void>((resolve) => srv.listen(0, host, resolve))
  const { port } = srv.address() as AddressInfo
  const origin = host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`
  return { srv, url: new URL(`${origin}/v1/metrics`), connections: () => connections, close: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()) }) }
}

/** A loopback server that answers every connection with the given bytes. */
async function rawServer(answer: string) {
  const srv = net.createServer((socket) => {
    socket.once('data', () => socket.end(answer))
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  return { url: new URL(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/v1/traces`), close: () => new Promise<void>((r) => srv.close(() => r())) }
}

const bodyOf = (req: http.IncomingMessage) => new Promise<string>((resolve) => {
  let text = ''
  req.setEncoding('utf8')
  req.on('data', (c: string) => (text += c))
  req.on('end', () => resolve(text))
})

test('a POST with its headers and body; the next send reuses the kept-alive connection', async () => {
  const seen: { method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }[] = []
  const s = await server(async (req, res) => {
    seen.push({ method: req.method, url: req.url, headers: req.headers, body: await bodyOf(req) })
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
  })
  const first = await send(s.url, Buffer.from('{"n":1}'), options).done
  const second = await send(s.url, Buffer.from('{"n":2}'), options).done
  assert.deepEqual([first.status, second.status], [200, 200])
  assert.deepEqual(seen.map((r) => [r.method, r.url, r.body]), [['POST', '/v1/metrics', '{"n":1}'], ['POST', '/v1/metrics', '{"n":2}']])
  assert.equal(seen[0]!.headers['x-agent-key'], 'k')
  assert.equal(seen[0]!.headers['content-length'], '7')
  assert.equal(seen[0]!.headers.host, s.url.host)
  assert.equal(s.connections(), 1, 'one connection for both')
  await s.close()
})

test("credentials in the endpoint's URL go as Basic authorization, unless a header gives one", async () => {
  const seen: (string | undefined)[] = []
  const s = await server((req, res) => {
    seen.push(req.headers.authorization)
    res.end('{}')
  })
  const withUser = new URL(s.url)
  withUser.username = 'ann'
  withUser.password = 'p@ss word'
  await send(withUser, Buffer.from('{}'), options).done
  await send(withUser, Buffer.from('{}'), { ...options, headers: { ...options.headers, Authorization: 'Bearer t' } }).done
  assert.deepEqual(seen, [`Basic ${Buffer.from('ann:p@ss word').toString('base64')}`, 'Bearer t'])
  await s.close()
})

test('a connection the collector closed while idle is not reused: the next send opens another', async () => {
  // The collector closes each connection 50 ms after its answer, as an idle timeout would.
  const s = await server((req, res) => res.end('{}', () => setTimeout(() => req.socket.destroy(), 50)))
  assert.equal((await send(s.url, Buffer.from('{}'), options).done).status, 200)
  await new Promise((r) => setTimeout(r, 300))
  assert.equal((await send(s.url, Buffer.from('{}'), options).done).status, 200)
  assert.equal(s.connections(), 2)
  await s.close()
})

test('a 429 answered in chunks: status, Retry-After and the body to report', async () => {
  const s = await server((_req, res) => {
    res.writeHead(429, { 'retry-after': '2' })
    res.write('slow ')
    setTimeout(() => res.end('down'), 20)
  })
  const result = await send(s.url, Buffer.from('{}'), options).done
  assert.equal(result.status, 429)
  assert.equal(result.retryAfterMs, 2000)
  assert.equal(result.body, 'slow down')
  await s.close()
})

test('a 500 with a body over 4 KB: its first 4 KB reported, the rest not read', async () => {
  const s = await server((_req, res) => res.writeHead(500).end('x'.repeat(100_000)))
  const result = await send(s.url, Buffer.from('{}'), options).done
  assert.equal(result.status, 500)
  assert.equal(result.body.length, 4096)
  await s.close()
})

test('interim 100 Continue, then the answer', async () => {
  const s = await rawServer('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n')
  assert.equal((await send(s.url, Buffer.from('{}'), options).done).status, 202)
  await s.close()
})

test('an answer that is not HTTP fails with the reason and the code the exporter explains', async () => {
  const s = await rawServer('SSH-2.0-OpenSSH_9.2\r\n')
  await assert.rejects(send(s.url, Buffer.from('{}'), options).done, (err: unknown) => err instanceof SendError && err.code === NOT_HTTP && /not HTTP\/1\.1 \(the answer does not start with a status line\)/.test(err.message))
  await s.close()
})

test('a header value with CR or LF is refused before anything is sent: it would split the request', async () => {
  const s = await server((_req, res) => res.end('{}'))
  const headers = { ...options.headers, 'x-injected': 'a\r\nx-evil: 1' }
  await assert.rejects(send(s.url, Buffer.from('{}'), { ...options, headers }).done, (err: unknown) => err instanceof SendError && err.code === 'ERR_INVALID_CHAR' && /x-injected/.test(err.message))
  assert.equal(s.connections(), 0)
  await s.close()
})

test('an IPv6 loopback collector', async (t) => {
  const s = await server((_req, res) => res.end('{}'), '::1').catch(() => undefined)
  if (!s) return t.skip('no IPv6 loopback on this machine')
  assert.equal((await send(s.url, Buffer.from('{}'), options).done).status, 200)
  await s.close()
})

test("exports do not pass through Node's HTTP client: its channels never see them", async () => {
  const s = await server((_req, res) => res.end('{}'))
  const seen: unknown[] = []
  const onStart = (m: unknown) => seen.push(m)
  dc.subscribe('http.client.request.start', onStart)
  try {
    assert.equal((await send(s.url, Buffer.from('{}'), options).done).status, 200)
  } finally {
    dc.unsubscribe('http.client.request.start', onStart)
  }
  assert.equal(seen.length, 0)
  await s.close()
})
