import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MAX_HEAD_BYTES, ResponseError, ResponseReader } from '../src/http-response-reader.ts'

interface Read {
  status?: number
  headers?: ReadonlyMap<string, string>
  body: string
  ends: boolean[]
}

/** Feeds `bytes` cut at `cuts`, then, if asked, the connection's end. */
function read(bytes: string, cuts: number[] = [], close = false): Read {
  const out: Read = { body: '', ends: [] }
  const reader = new ResponseReader({
    head(status, headers) {
      out.status = status
      out.headers = headers
    },
    body(chunk) {
      out.body += chunk.toString('latin1')
    },
    end(reusable) {
      out.ends.push(reusable)
    },
  })
  const buf = Buffer.from(bytes, 'latin1')
  let at = 0
  for (const cut of [...cuts, buf.length]) {
    reader.push(buf.subarray(at, cut))
    at = cut
  }
  if (close) reader.closed()
  return out
}

/** The same bytes read whole and cut at every point give the same result. */
function readEverySplit(bytes: string, close = false): Read {
  const whole = read(bytes, [], close)
  for (let cut = 1; cut < bytes.length; cut++) assert.deepEqual(read(bytes, [cut], close), whole, `cut at ${cut}`)
  return whole
}

test('Content-Length: the body as framed, and the connection reusable', () => {
  const r = readEverySplit('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello')
  assert.equal(r.status, 200)
  assert.equal(r.headers?.get('content-type'), 'text/plain')
  assert.equal(r.body, 'hello')
  assert.deepEqual(r.ends, [true])
})

test('chunked, with extensions and trailers', () => {
  const r = readEverySplit('HTTP/1.1 503 Unavailable\r\nTransfer-Encoding: chunked\r\nRetry-After: 7\r\n\r\n4;x=y\r\ntry \r\n5\r\nlater\r\n0\r\nX-Trailer: 1\r\n\r\n')
  assert.equal(r.status, 503)
  assert.equal(r.headers?.get('retry-after'), '7')
  assert.equal(r.body, 'try later')
  assert.deepEqual(r.ends, [true])
})

test('interim 100 and 103 answers are skipped for the final one', () => {
  const r = readEverySplit('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n')
  assert.equal(r.status, 201)
  assert.equal(r.headers?.has('link'), false)
  assert.deepEqual(r.ends, [true])
})

test('a body framed by the connection ends with it, and the connection is not reused', () => {
  const r = readEverySplit('HTTP/1.1 200 OK\r\n\r\nall of it', true)
  assert.equal(r.body, 'all of it')
  assert.deepEqual(r.ends, [false])
})

test('Connection: close, HTTP/1.0 and bytes after the end: not reused', () => {
  assert.deepEqual(read('HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n').ends, [false])
  assert.deepEqual(read('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').ends, [false])
  assert.deepEqual(read('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab').ends, [false])
  // Cut just after the body: the end is told once, as read so far.
  assert.deepEqual(read('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab', [39]).ends, [true])
})

test('204 and 304 have no body whatever their headers say', () => {
  assert.deepEqual(read('HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n').ends, [true])
  assert.deepEqual(read('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n').ends, [true])
})

test('repeated headers are joined; equal repeated Content-Lengths are one', () => {
  const r = read('HTTP/1.1 200 OK\r\nVary: a\r\nVary: b\r\nContent-Length: 2, 2\r\n\r\nok')
  assert.equal(r.headers?.get('vary'), 'a, b')
  assert.equal(r.body, 'ok')
})

test('what is not HTTP is refused early, with the reason', () => {
  const refused = (bytes: string, reason: RegExp, close = false) => assert.throws(() => read(bytes, [], close), (err: unknown) => err instanceof ResponseError && reason.test(err.message))
  refused('\x00\x01\x02\x03\x04garbage', /does not start with a status line/)
  refused('HTTP/1.1 2OO garbage\r\n\r\n', /malformed status line/)
  refused('HTTP/2 200\r\n\r\n', /malformed status line/)
  refused('HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /malformed header/)
  refused('HTTP/1.1 200 OK\r\n folded: value\r\n\r\n', /malformed header/)
  refused('HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n', /Content-Length/)
  refused('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /Content-Length/)
  refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /not hexadecimal/)
  refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY', /CRLF/)
  refused('HTTP/1.1 101 Switching Protocols\r\n\r\n', /protocol switch/)
  refused(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}`, /head over/)
  refused(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1${';'.repeat(2000)}`, /line over/)
  refused('HTTP/1.1 500 Oops\r\nContent-Length: 10\r\n\r\nabc', /closed inside the answer/, true)
  refused('HTT', /closed before an answer/, true)
})
