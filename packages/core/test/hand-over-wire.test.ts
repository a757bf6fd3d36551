// The packed hand-over: what a primary reads back is exactly what the worker
// packed, names travel once, and data it cannot read never hangs or throws
// anything but UnreadableHandOver.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Aggregator, type IntervalSnapshot } from '../src/aggregator.ts'
import { NameTable, UnreadableHandOver, packInterval, unpackInterval, unpackSnapshot } from '../src/hand-over-wire.ts'

/** Endpoints and jobs in a stable order, extremes as strings (JSON has no Infinity). */
function canonical(s: IntervalSnapshot) {
  const c = JSON.parse(JSON.stringify(s, (_k, v) => (v === Infinity || v === -Infinity ? String(v) : v)))
  c.endpoints.sort((a: any, b: any) => `${a.method} ${a.route}`.localeCompare(`${b.method} ${b.route}`))
  c.jobs?.sort((a: any, b: any) => `${a.queue} ${a.name}`.localeCompare(`${b.queue} ${b.name}`))
  for (const j of c.jobs ?? []) j.outcomes.sort((a: any, b: any) => a.outcome.localeCompare(b.outcome))
  return c
}

/** Everything an interval can hold: routed and unrouted endpoints, odd latencies, layers, N+1, jobs, queues. */
function busyInterval(): Aggregator {
  const a = new Aggregator(1000, 1_700_000_000_000)
  for (let e = 0; e < 40; e++) for (let i = 0; i < 150; i++) a.record('GET', `/route-${e}/:id`, 0.001 + ((i * 7919) % 997) / 1e4, i % 50 === 0, i % 70 === 0)
  a.record('GET', '/zero', 0, false, false)
  a.record('GET', '/zero', -1, false, false) // counted, no latency
  a.record('GET', '/huge', 1e15, true, false)
  a.record('GET', '/tiny', 1e-12, false, false)
  a.record('POST', 'unmatched', 0.25, true, false, false)
  const withInside = a.endpoint('GET', '/route-3/:id', true)
  withInside.addLayer(1, 3, 0.123456789)
  withInside.addLayer(3, 2 ** 40, 1 / 3)
  withInside.flagNPlusOne('postgresql\tselect * from t where id = ?', 2)
  withInside.flagNPlusOne('redis\tGET ?', 7)
  a.recordJob('bullmq', 'mail queue', 'send mail', 'completed', 0.5, 0.01)
  a.recordJob('bullmq', 'mail queue', 'send mail', 'retried', 0.7, 0.02)
  a.recordJob(undefined, undefined, 'nightly', 'failed', 1.5, undefined)
  a.recordJob(undefined, undefined, 'nightly', 'stalled', 2, undefined)
  a.job(undefined, undefined, 'nightly').addLayer(0, 4, 0.4)
  a.setQueueDepth({ queue: 'mail queue', waiting: 1, active: 2, delayed: 0, failed: 3 })
  return a
}

test('a packed interval reads back exactly as the snapshot it was packed from', () => {
  const snapshot = busyInterval().drain(1_700_000_001_000)
  const names = new NameTable()
  const packed = packInterval(snapshot, names)
  assert.deepEqual(canonical(unpackSnapshot(packed, names.list)), canonical(snapshot))
  // Every number travels in one JSON-safe string.
  assert.match(packed.data, /^[0-9A-Za-z_-]+$/)
  assert.ok(packed.data.length < JSON.stringify(snapshot).length / 4, `${packed.data.length} characters`)
})

test('merging packed hand-overs equals merging their snapshots, and names travel once', () => {
  const names = new NameTable()
  const bySnapshot = new Aggregator(1000, 0)
  const byPacked = new Aggregator(1000, 0)
  const first = busyInterval().drain(1)
  const second = busyInterval()
  second.record('DELETE', '/new/:id', 0.002, false, false)
  const secondSnapshot = second.drain(2)
  const p1 = packInterval(first, names)
  const namedFirst = names.list.length
  names.sent = namedFirst
  const p2 = packInterval(secondSnapshot, names)
  // Only the new endpoint is a new name.
  assert.deepEqual(names.list.slice(names.sent), [['e', 'DELETE', '/new/:id']])
  for (const [snapshot, packed] of [[first, p1], [secondSnapshot, p2]] as const) {
    bySnapshot.merge(snapshot)
    unpackInterval(packed, names.list, byPacked)
  }
  assert.deepEqual(canonical(byPacked.drain(3)), canonical(bySnapshot.drain(3)))
})

test('the same name table numbers a name the same way in every hand-over; a job and an endpoint of one name stay apart', () => {
  const names = new NameTable()
  const a = new Aggregator(10)
  a.record('GET', 'x', 0.1, false, false)
  a.recordJob('s', 'q', 'x', 'completed', 0.1, undefined)
  a.recordJob('s q', '', 'x', 'completed', 0.1, undefined)
  packInterval(a.snapshot(), names)
  packInterval(a.snapshot(), names)
  assert.equal(names.list.length, 3)
})

test('data not packed by this code throws UnreadableHandOver, and never hangs', () => {
  const snapshot = busyInterval().drain(1)
  const names = new NameTable()
  const packed = packInterval(snapshot, names)
  const attempts = [
    packed.data.slice(0, packed.data.length >> 1), // cut short
    `${packed.data}0`, // past its end
    packed.data.replace(/.$/, '"'), // not a digit
    '_'.repeat(64), // a number without end
    '',
  ]
  for (const data of attempts) assert.throws(() => unpackInterval({ ...packed, data }, names.list, new Aggregator(1000)), UnreadableHandOver)
  // Names it was never sent.
  assert.throws(() => unpackInterval(packed, [], new Aggregator(1000)), UnreadableHandOver)
  assert.throws(() => unpackInterval({ ...packed, data: 42 as unknown as string }, names.list, new Aggregator(1000)), UnreadableHandOver)
})

test('a histogram bucket beyond the index bounds is clamped, not grown into', () => {
  const names = new NameTable()
  const snapshot: IntervalSnapshot = {
    startMs: 0,
    endMs: 1,
    endpoints: [{ method: 'GET', route: '/', count: 2, errors: 0, aborted: 0, histogram: { count: 2, sum: 1, min: 0.5, max: 0.5, zeroCount: 0, offset: -1e9, counts: [1, 0, 1] } }],
  }
  const back = unpackSnapshot(packInterval(snapshot, names), names.list)
  const h = back.endpoints[0]!.histogram
  assert.equal(h.count, 2)
  assert.ok(h.counts.length < 10, `${h.counts.length} buckets`)
  assert.equal(h.counts.reduce((x, y) => x + y, 0), 2)
})
