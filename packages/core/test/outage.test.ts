// Through a 30 s collector outage memory stays bounded; afterwards what fit in
// the queue arrives and the rest is counted as dropped, to the request.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { once } from 'node:events'
import { Agent } from '../src/agent.ts'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'
import { get } from '@agent/test-helpers/load.ts'

const OUTAGE_MS = Number(process.env.AGENT_TEST_OUTAGE_MS ?? 30_000)

test(`a ${OUTAGE_MS / 1000} s outage: bounded memory, and sink count + dropped count = requests served`, { timeout: OUTAGE_MS + 60_000 }, async (t) => {
  const sink = await OtlpSink.start()
  t.after(() => sink.close())
  const lines: string[] = []
  const maxQueue = 8
  const maxQueueBytes = 64 * 1024
  const agent = new Agent({ name: 'outage', key: 'k', endpoint: sink.url, flushIntervalMs: 1000, maxQueue, maxQueueBytes, shutdownTimeoutMs: 10_000, forceStart: true,
    // The sink is an HTTP server in this process too: keep its requests out of the count.
    ignorePaths: ['/v1/*'], logLevel: 'warn', logWrite: (l) => lines.push(l) })
  agent.start()
  t.after(() => agent.shutdown())
  const server = http.createServer((req, res) => res.end(req.url))
  t.after(() => server.close())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }

  let served = 0
  let maxHeld = 0
  let maxHeldBytes = 0
  /** 10 requests every 100 ms for `ms`, bounded in count and time. */
  const loadFor = async (ms: number) => {
    const end = Date.now() + ms
    while (Date.now() < end) {
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => get(`http://127.0.0.1:${port}/orders/${i}`).then(() => 1, () => 0)))
      served += results.reduce<number>((a, b) => a + b, 0)
      maxHeld = Math.max(maxHeld, agent.exporter.pendingCount)
      maxHeldBytes = Math.max(maxHeldBytes, agent.exporter.heldBytes)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  await loadFor(2000)
  await sink.stop()
  const heapBefore = process.memoryUsage().heapUsed
  await loadFor(OUTAGE_MS)
  const heapDuring = process.memoryUsage().heapUsed
  await sink.listen()
  await loadFor(2000)
  server.close()
  assert.equal(await agent.shutdown(), true, lines.join(''))

  const bodies = sink.received.map((r) => r.raw.toString())
  t.diagnostic(`duplicates: ${bodies.length - new Set(bodies).size}`)
  const delivered = sink.requests()
  const reportedDropped = sink.sumOf('agent.export.dropped.requests')
  t.diagnostic(`served ${served}, delivered ${delivered}, reported dropped ${reportedDropped}, agent dropped ${agent.exporter.stats.dropped.requests}, max held ${maxHeld} payloads / ${maxHeldBytes} bytes, heap ${((heapDuring - heapBefore) / 1e6).toFixed(1)} MB`)
  assert.ok(maxHeld <= maxQueue, `held ${maxHeld} payloads`)
  assert.ok(maxHeldBytes <= maxQueueBytes, `held ${maxHeldBytes} bytes`)
  assert.ok(agent.exporter.stats.dropped.requests > 0, 'the outage was long enough to drop')
  assert.ok(delivered > 0)
  assert.equal(delivered + reportedDropped, served)
  assert.equal(reportedDropped, agent.exporter.stats.dropped.requests)
  assert.equal(lines.filter((l) => l.includes('AGENT_QUEUE_DROPPED')).length, 1, 'drops said once per streak')
})
