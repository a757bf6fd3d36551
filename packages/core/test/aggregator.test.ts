// An aggregator that keeps its endpoints' stats across drains (a primary's,
// per worker) reports each interval exactly as one that starts empty.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Aggregator, type IntervalSnapshot } from '../src/aggregator.ts'

function sorted(s: IntervalSnapshot) {
  return [...s.endpoints].sort((a, b) => `${a.method} ${a.route}`.localeCompare(`${b.method} ${b.route}`))
}

test('drainKeeping reports each interval as drain does; an endpoint idle for an interval is dropped', () => {
  const keeping = new Aggregator(1000, 0)
  const fresh = new Aggregator(1000, 0)
  const intervals: [string, number, number][][] = [
    [['/a', 5, 0.001], ['/b', 3, 0.2]],
    [['/a', 2, 3], ['/c', 1, 1e-12]], // /a lands far from its earlier buckets
    [['/c', 4, 0.05]],
    [],
    [['/a', 1, 0.001]],
  ]
  for (const [i, requests] of intervals.entries()) {
    for (const agg of [keeping, fresh]) {
      for (const [route, n, seconds] of requests) for (let k = 0; k < n; k++) agg.record('GET', route, seconds * (k + 1), k === 0, false)
      if (i === 1) agg.endpoint('GET', '/a', true).addLayer(1, 2, 0.5)
    }
    const kept = keeping.drainKeeping(10 * (i + 1))
    assert.deepEqual(sorted(kept), sorted(fresh.drain(10 * (i + 1))), `interval ${i}`)
    assert.equal(kept.startMs, i === 0 ? 0 : 10 * i)
  }
  // /b was idle in interval 1 and dropped then; /a and /c idle in 3 and dropped.
  assert.equal(keeping.namesWithData, 1)
})

test('a kept endpoint holds its slot under maxEndpoints one interval longer; an idle one frees it', () => {
  const a = new Aggregator(2, 0)
  const routes = (s: IntervalSnapshot) => s.endpoints.map((e) => `${e.route} ${e.count}`).sort()
  a.record('GET', '/a', 0.1, false, false)
  a.record('GET', '/b', 0.1, false, false)
  a.drainKeeping(1)
  a.record('GET', '/c', 0.1, false, false)
  a.record('GET', '/a', 0.1, false, false)
  assert.deepEqual(routes(a.drainKeeping(2)), ['/a 1', '__overflow__ 1'])
  // /b, idle, was dropped; /a and the overflow, kept, hold both slots for one more interval.
  a.record('GET', '/c', 0.1, false, false)
  assert.deepEqual(routes(a.drainKeeping(3)), ['__overflow__ 1'])
  // /a, idle in that one, was dropped: /c gets its slot.
  a.record('GET', '/c', 0.1, false, false)
  assert.deepEqual(routes(a.drainKeeping(4)), ['/c 1'])
})
