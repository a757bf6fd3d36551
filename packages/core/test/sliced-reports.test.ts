// A periodic report is encoded a slice per turn of the event loop, from the
// turn after the interval was taken; a delivery before exit finishes it at
// once. The body is the one encoded at once, in either protocol.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { Aggregator } from '../src/aggregator.ts'
import type { Exporter, Payload } from '../src/exporter.ts'
import { Logger } from '../src/logger.ts'
import { MetricsEncoding, metricsBody, resourceAttributes, type MetricsInput } from '../src/otlp-encoder.ts'
import { newIdentity } from '../src/process-identity.ts'
import { SlicedReports } from '../src/sliced-reports.ts'

const resource = resourceAttributes({ serviceName: 'sliced', identity: newIdentity() })

function input(endpoints: number): MetricsInput {
  const agg = new Aggregator(1000)
  for (let e = 0; e < endpoints; e++) for (let i = 0; i < 50; i++) agg.record('GET', `/r${e}/:id`, 0.001 + i / 1000, false, false)
  return { resource, interval: agg.drain() }
}

function capturing() {
  const enqueued: Omit<Payload, 'attempts' | 'id'>[] = []
  const exporter = { enqueue: (p: Omit<Payload, 'attempts' | 'id'>) => enqueued.push(p) } as unknown as Exporter
  return { enqueued, reports: new SlicedReports(exporter, new Logger('silent')) }
}

for (const protocol of ['http/json', 'http/protobuf'] as const) {
  test(`${protocol}: a report in slices starts in the next turn, takes more than one, and enqueues the body encoded at once`, async () => {
    const { enqueued, reports } = capturing()
    const data = input(2000)
    let settled = 0
    reports.inSlices({ encoding: new MetricsEncoding(data, protocol), requests: 7, settled: () => settled++ })
    assert.equal(enqueued.length, 0, 'nothing encoded in the turn that took the interval')
    assert.equal(reports.size, 1)
    let turns = 0
    while (enqueued.length === 0) {
      await nextTurn()
      turns++
    }
    assert.ok(turns > 1, `encoded over ${turns} turns`)
    assert.equal(reports.size, 0)
    assert.deepEqual(enqueued[0]!.body, metricsBody(data, protocol))
    assert.equal(enqueued[0]!.requests, 7)
    enqueued[0]!.settled?.(true)
    assert.equal(settled, 1)
  })
}

test('finishAll completes the reports still in slices at once, in order, and a slice that comes later does nothing', async () => {
  const { enqueued, reports } = capturing()
  const first = input(2000)
  const second = input(3)
  reports.inSlices({ encoding: new MetricsEncoding(first), requests: 1 })
  reports.inSlices({ encoding: new MetricsEncoding(second), requests: 2 })
  reports.finishAll()
  assert.deepEqual(enqueued.map((p) => p.requests), [1, 2])
  assert.deepEqual(enqueued[0]!.body, metricsBody(first, 'http/json'))
  assert.equal(reports.size, 0)
  await nextTurn()
  await nextTurn()
  assert.equal(enqueued.length, 2)
})
