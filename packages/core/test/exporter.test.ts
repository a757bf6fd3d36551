import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Exporter, type ExporterOptions } from '../src/exporter.ts'
import { Logger } from '../src/logger.ts'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'
import { freePort as closedPort } from '@agent/test-helpers/ports.ts'
import { selfSigned } from '@agent/test-helpers/tls.ts'

const payload = (n: number, requests = 1) => ({ signal: 'metrics' as const, body: Buffer.from(JSON.stringify({ resourceMetrics: [], n })), requests })

/** Waits, `ms` at most, for `done` to hold. */
async function until(done: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
}

function exporter(endpoint: string, extra: Partial<ExporterOptions> = {}) {
  const lines: string[] = []
  const exp = new Exporter({ endpoint, key: 'secret-key', keyHeader: 'x-agent-key', connectTimeoutMs: 300, exportTimeoutMs: 1000, maxQueue: 100, maxQueueBytes: 1 << 20, compressMinBytes: 1 << 20, ...extra }, new Logger('info', (l) => lines.push(l)))
  return { exp, lines }
}


test('delivers to a working collector, with the key header and gzip above the threshold', async () => {
  const sink = await OtlpSink.start()
  const { exp } = exporter(sink.url, { compressMinBytes: 10 })
  exp.enqueue(payload(1))
  assert.equal(await exp.deliverUntil(Date.now() + 5000), true)
  assert.equal(sink.received.length, 1)
  assert.equal(sink.received[0]!.headers['x-agent-key'], 'secret-key')
  assert.equal(sink.received[0]!.headers['content-encoding'], 'gzip')
  assert.equal(sink.received[0]!.body.n, 1)
  await sink.close()
})

test('small and large bodies both arrive gzip\'d and whole (small ones are compressed on the loop, large ones in the threadpool)', async () => {
  const sink = await OtlpSink.start()
  const { exp } = exporter(sink.url, { compressMinBytes: 10 })
  const large = Array.from({ length: 4000 }, (_, i) => `route-${i}-${(i * 7919) % 104729}`)
  const largeBody = Buffer.from(JSON.stringify({ resourceMetrics: [], n: 2, large }))
  assert.ok(largeBody.length > 64 * 1024)
  exp.enqueue(payload(1))
  exp.enqueue({ signal: 'metrics', body: largeBody, requests: 1 })
  assert.equal(await exp.deliverUntil(Date.now() + 5000), true)
  assert.equal(sink.received.length, 2)
  assert.ok(sink.received.every((r) => r.headers['content-encoding'] === 'gzip'))
  assert.deepEqual(sink.received.map((r) => r.body.n), [1, 2])
  assert.deepEqual(sink.received[1]!.body.large, large)
  await sink.close()
})

test('a collector that never answers: the drain gives up at its deadline and aborts the request', async () => {
  const sink = await OtlpSink.start({ mode: 'blackhole' })
  const { exp, lines } = exporter(sink.url, { exportTimeoutMs: 60_000 })
  exp.enqueue(payload(1))
  const started = Date.now()
  assert.equal(await exp.deliverUntil(started + 300), false)
  const took = Date.now() - started
  assert.ok(took < 1000, `drain took ${took} ms`)
  // Read now: the aborted payload's back-off may retry against the closed sink below and say so.
  const said = lines.length
  await sink.close()
  assert.ok(said <= 1, lines.join(''))
})

test('total timeout: no request outlives exportTimeoutMs', async () => {
  const sink = await OtlpSink.start({ mode: 'slow' })
  sink.slowMs = 5000
  const { exp, lines } = exporter(sink.url, { exportTimeoutMs: 200 })
  exp.enqueue(payload(1))
  await until(() => lines.some((l) => l.includes('AGENT_EXPORT_FAILED')), 3000)
  assert.match(lines.join(''), /no complete response within 200 ms/)
  await sink.close()
})

test('a refused port: retried with backoff, logged once per streak, recovery logged', async () => {
  const port = await closedPort()
  // A connect timeout would be a second kind of failure, said apart: out of reach on a loaded machine.
  const { exp, lines } = exporter(`http://127.0.0.1:${port}`, { connectTimeoutMs: 10_000 })
  for (let i = 0; i < 3; i++) exp.enqueue(payload(i))
  await new Promise((r) => setTimeout(r, 1500))
  const failures = lines.filter((l) => l.includes('AGENT_EXPORT_FAILED'))
  assert.equal(failures.length, 1, lines.join(''))
  assert.match(failures[0]!, /ECONNREFUSED.*Nothing listens there/)
  const sink = await OtlpSink.start({ port })
  assert.equal(await exp.deliverUntil(Date.now() + 5000), true)
  assert.deepEqual(sink.received.map((r) => r.body.n), [0, 1, 2], 'in order, none lost')
  assert.match(lines.join(''), /works again/)
  await sink.close()
})

test('429 with Retry-After is honoured, then delivered', async () => {
  const sink = await OtlpSink.start({ mode: 'status' })
  sink.status = 429
  sink.retryAfter = '1'
  const { exp, lines } = exporter(sink.url)
  exp.enqueue(payload(1))
  // The 429 has been answered once the failure is said.
  await until(() => lines.some((l) => l.includes('AGENT_EXPORT_FAILED')))
  sink.mode = 'ok'
  const sentAt = Date.now()
  await until(() => sink.received.length > 0)
  assert.equal(sink.received.length, 1)
  assert.ok(Date.now() - sentAt >= 700, 'waited for Retry-After (1 s from the 429)')
  await sink.close()
})

test('500 and 503 are retried; 400 is dropped, counted and not retried', async () => {
  const sink = await OtlpSink.start({ mode: 'status' })
  sink.status = 503
  const { exp, lines } = exporter(sink.url)
  exp.enqueue(payload(1, 10))
  await new Promise((r) => setTimeout(r, 100))
  sink.mode = 'ok'
  assert.equal(await exp.deliverUntil(Date.now() + 5000), true)
  assert.equal(sink.received.length, 1)
  sink.mode = 'status'
  sink.status = 400
  exp.enqueue(payload(2, 5))
  exp.enqueue(payload(3, 5))
  assert.equal(await exp.deliverUntil(Date.now() + 5000), true)
  assert.equal(exp.stats.rejected, 2)
  assert.deepEqual(exp.stats.dropped, { payloads: 2, requests: 10 })
  assert.equal(lines.filter((l) => l.includes('AGENT_EXPORT_REJECTED')).length, 1)
  await sink.close()
})

test('garbage answers are treated as a failure and retried, never crash', async () => {
  const sink = await OtlpSink.start({ mode: 'garbage' })
  const { exp, lines } = exporter(sink.url)
  exp.enqueue(payload(1))
  await until(() => lines.some((l) => l.includes('AGENT_EXPORT_FAILED')))
  assert.match(lines.join(''), /AGENT_EXPORT_FAILED/)
  sink.mode = 'ok'
  assert.equal(await exp.deliverUntil(Date.now() + 5000), true)
  assert.equal(sink.received.length, 1)
  await sink.close()
})

test('bounded queue: the oldest payloads are dropped and counted, the drops logged once', async () => {
  const port = await closedPort()
  const { exp, lines } = exporter(`http://127.0.0.1:${port}`, { maxQueue: 3 })
  for (let i = 0; i < 10; i++) exp.enqueue(payload(i, 2))
  assert.ok(exp.pendingCount <= 3)
  assert.equal(exp.stats.dropped.payloads, 7)
  assert.equal(exp.stats.dropped.requests, 14)
  assert.equal(lines.filter((l) => l.includes('AGENT_QUEUE_DROPPED')).length, 1)
})

test('a streak of drops is said once, through the recovery, until the queue has drained; the next streak is said again', async (t) => {
  const sink = await OtlpSink.start()
  t.after(() => sink.close())
  sink.mode = 'status'
  const { exp, lines } = exporter(sink.url, { maxQueue: 3 })
  const said = () => lines.filter((l) => l.includes('AGENT_QUEUE_DROPPED')).length
  let refilled = false
  const settled = (delivered: boolean) => {
    // Just after the first success, while the rest still drains: the queue overflows again.
    if (delivered && !refilled) {
      refilled = true
      setImmediate(() => { for (let i = 10; i < 14; i++) exp.enqueue(payload(i)) })
    }
  }
  for (let i = 0; i < 6; i++) exp.enqueue({ ...payload(i), settled })
  assert.equal(said(), 1)
  await new Promise((r) => setTimeout(r, 100))
  // Answers again, slowly enough that the refill finds the queue still draining.
  sink.mode = 'slow'
  sink.slowMs = 30
  const dropsBefore = exp.stats.dropped.payloads
  assert.equal(await exp.deliverUntil(Date.now() + 5000), true)
  assert.ok(refilled)
  assert.ok(exp.stats.dropped.payloads > dropsBefore, 'the refill overflowed the queue')
  assert.equal(said(), 1, 'drops while the queue drains belong to the streak already said')
  sink.mode = 'status'
  for (let i = 20; i < 26; i++) exp.enqueue(payload(i))
  assert.equal(said(), 2, 'after the queue drained, a new streak is said')
  sink.mode = 'ok'
  assert.equal(await exp.deliverUntil(Date.now() + 5000), true)
})

test('the byte bound holds too', () => {
  const { exp } = exporter('http://127.0.0.1:9', { maxQueue: 1000, maxQueueBytes: 2048 })
  for (let i = 0; i < 50; i++) exp.enqueue({ signal: 'logs', body: Buffer.alloc(500, 32), requests: 0 })
  assert.ok(exp.heldBytes <= 2048)
})

test('https: a self-signed certificate is refused and reported; trusted with caFile', async () => {
  const tls = selfSigned()
  const sink = await OtlpSink.start({ tls })
  const untrusted = exporter(sink.url)
  untrusted.exp.enqueue(payload(1))
  assert.equal(await untrusted.exp.deliverUntil(Date.now() + 700), false)
  assert.equal(sink.received.length, 0, 'never sent to an unverified server')
  assert.match(untrusted.lines.join(''), /AGENT_TLS: .*SELF_SIGNED.*set "caFile"/)
  const trusted = exporter(sink.url, { ca: Buffer.from(tls.cert) })
  trusted.exp.enqueue(payload(2))
  assert.equal(await trusted.exp.deliverUntil(Date.now() + 5000), true)
  assert.equal(sink.received.length, 1)
  await sink.close()
})

test('a 200 with a huge body is a success at its status line; the body is not read on, and the payload is not sent again', async () => {
  const sink = await OtlpSink.start({ mode: 'huge' })
  const { exp } = exporter(sink.url, { exportTimeoutMs: 5000 })
  exp.enqueue(payload(1))
  assert.equal(await exp.deliverUntil(Date.now() + 3000), true)
  await new Promise((r) => setTimeout(r, 300))
  assert.equal(sink.received.length, 1, 'sent once')
  assert.equal(exp.stats.sentPayloads, 1)
  // What the kernel's socket buffers took before the agent let the socket go; never the 512 MB.
  assert.ok(sink.bodyBytesWritten < 32 * 1024 * 1024, `the collector wrote ${sink.bodyBytesWritten} bytes of body`)
  await sink.close()
})

test('a 200 whose body trickles for 10 s: delivered at once, the queue behind it moves on', async () => {
  const sink = await OtlpSink.start({ mode: 'trickle' })
  sink.slowMs = 10_000
  const { exp } = exporter(sink.url, { exportTimeoutMs: 5000 })
  for (let i = 0; i < 5; i++) exp.enqueue(payload(i))
  assert.equal(await exp.deliverUntil(Date.now() + 8000), true, 'all five delivered before one body ends')
  assert.equal(sink.received.length, 5)
  assert.equal(exp.stats.sentPayloads, 5)
  await sink.close()
})

test('an answer lost after the collector stored the payload: it comes again under the same payload id', async () => {
  const sink = await OtlpSink.start({ mode: 'drop-after-store' })
  const { exp } = exporter(sink.url, { payloadIdPrefix: 'instance-1' })
  exp.enqueue(payload(1))
  exp.enqueue(payload(2))
  assert.equal(await exp.deliverUntil(Date.now() + 5000), true)
  const ids = sink.received.map((r) => String(r.headers['x-agent-payload-id']))
  assert.equal(ids.length, 3, 'the first payload twice, the second once')
  assert.equal(ids[0], ids[1], 'a retry carries the id of the first try')
  assert.notEqual(ids[1], ids[2])
  assert.match(ids[0]!, /^instance-1-\d+$/)
  await sink.close()
})
