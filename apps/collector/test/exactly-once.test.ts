// Exactly-once with the agent: a payload sent again after a lost answer, and
// a cluster worker re-sending what its dead primary had delivered, are each
// stored once.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Aggregator, Exporter, HAND_OVER_FROM, HAND_OVER_THROUGH, Logger, attr, encodeMetrics, newIdentity, resourceAttributes } from '@agent/core/internal'
import { startCollector } from '../src/start-collector.ts'

const tmp = mkdtempSync(join(tmpdir(), 'collector-'))
after(() => rmSync(tmp, { recursive: true, force: true }))
const started = () => startCollector({ host: '127.0.0.1', port: 0, dbPath: join(mkdtempSync(join(tmp, 'case-')), 'c.db') })

function interval(requests: number) {
  const agg = new Aggregator(10)
  for (let i = 0; i < requests; i++) agg.record('GET', '/orders/:id', 0.01, false, false)
  return agg.drain()
}

async function stored(url: string, service: string): Promise<number> {
  const summary = (await (await fetch(`${url}/api/summary?service=${service}&range=7d`)).json()) as { endpoints: { count: number }[] }
  return summary.endpoints.reduce((n, e) => n + e.count, 0)
}

/**
 * A proxy in front of the collector that passes every request on but, for the
 * first `drops` of them, closes the client's connection as the answer comes
 * back: the collector stored the payload, the agent never hears so.
 */
async function droppingProxy(target: URL, drops: number): Promise<{ url: string; answers: () => number; close(): void }> {
  let left = drops
  let answers = 0
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname)
    client.pipe(upstream)
    upstream.on('data', (chunk) => {
      answers++
      if (left > 0) {
        left--
        client.destroy()
        upstream.destroy()
        return
      }
      client.write(chunk)
    })
    upstream.on('end', () => client.end())
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, answers: () => answers, close: () => server.close() }
}

test('an answer lost after the collector stored the payload: the agent sends it again, the collector stores it once', async () => {
  const c = await started()
  const proxy = await droppingProxy(new URL(c.url), 1)
  try {
    const exporter = new Exporter({ endpoint: proxy.url, key: '', keyHeader: 'x-agent-key', connectTimeoutMs: 1000, exportTimeoutMs: 2000, maxQueue: 10, maxQueueBytes: 1 << 20, compressMinBytes: 1 << 20, payloadIdPrefix: 'instance-a' }, new Logger('silent'))
    const resource = resourceAttributes({ serviceName: 'once', identity: newIdentity() })
    exporter.enqueue({ signal: 'metrics', body: Buffer.from(encodeMetrics({ resource, interval: interval(40) })), requests: 40 })
    assert.equal(await exporter.deliverUntil(Date.now() + 10_000), true)
    assert.equal(exporter.stats.sentPayloads, 1, 'delivered once, as far as the agent knows')
    assert.ok(proxy.answers() >= 2, 'the collector answered twice: the payload came twice')
    assert.equal(await stored(c.url, 'once'), 40, 'stored once though it arrived twice')
  } finally {
    proxy.close()
    await c.close()
  }
})

test('a worker re-sending hand-overs its dead primary delivered: stored once; the ones after them are stored', async () => {
  const c = await started()
  try {
    const worker = resourceAttributes({ serviceName: 'cluster', identity: newIdentity() })
    const primary = resourceAttributes({ serviceName: 'cluster', identity: newIdentity() })
    const post = (body: string) => fetch(`${c.url}/v1/metrics`, { method: 'POST', body, headers: { 'content-type': 'application/json' } }).then((r) => r.status)
    // The primary's payload: the worker's data through its hand-over 5.
    assert.equal(await post(encodeMetrics({ resource: primary, interval: interval(0), processes: [{ resource: worker, interval: interval(30), handOverThrough: 5 }] })), 200)
    // The worker, its primary dead before the acknowledgement: hand-overs 4-5 (delivered) and 6-7 (not).
    const body = JSON.parse(encodeMetrics({ resource: worker, interval: interval(2), orphans: [{ interval: interval(9), from: 4, through: 5 }, { interval: interval(7), from: 6, through: 7 }] }))
    assert.equal(await post(JSON.stringify(body)), 200)
    assert.equal(await stored(c.url, 'cluster'), 30 + 2 + 7)
    // The attributes the agent numbers them with.
    const keys = body.resourceMetrics.flatMap((rm: { resource: { attributes: { key: string }[] } }) => rm.resource.attributes.map((a) => a.key))
    assert.ok(keys.includes(HAND_OVER_FROM) && keys.includes(HAND_OVER_THROUGH))
    assert.deepEqual(attr(HAND_OVER_THROUGH, 7), { key: HAND_OVER_THROUGH, value: { intValue: '7' } })
  } finally {
    await c.close()
  }
})
