import { test } from 'node:test'
import assert from 'node:assert/strict'
import { LatencyHistogram, bucketIndex } from '../src/histogram.ts'

/** A seeded generator, so a failure can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0
    return seed / 2 ** 32
  }
}

function skewed(n: number, seed: number): number[] {
  const r = rng(seed)
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    // Log-normal body with a Pareto tail: most fast, a few very slow.
    const u = Math.max(r(), 1e-12)
    const v = r()
    const normal = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
    out.push(r() < 0.97 ? Math.exp(1 + 0.8 * normal) : 200 / Math.pow(Math.max(r(), 1e-9), 1 / 1.5))
  }
  return out
}

const exact = (sorted: number[], q: number) => sorted[Math.floor(q * (sorted.length - 1))]!

const LOWEST = Math.floor(Math.log2(1e-9) * 64)
const HIGHEST = Math.ceil(Math.log2(1e12) * 64)

test('bucketIndex: bucket i holds (base^i, base^(i+1)], base = 2^(1/64), within the index bounds', () => {
  // Beside every bound of every octave: the value just below it is in the lower bucket, just above in the upper one.
  for (let octave = -29; octave <= 38; octave++) {
    for (let j = 0; j < 64; j++) {
      const bound = 2 ** (octave + j / 64)
      const upper = octave * 64 + j
      assert.equal(bucketIndex(bound * (1 - 1e-12)), upper - 1, `below 2^(${octave} + ${j}/64)`)
      assert.equal(bucketIndex(bound * (1 + 1e-12)), upper, `above 2^(${octave} + ${j}/64)`)
    }
  }
  assert.equal(bucketIndex(1), -1, 'a power of two is the top of its lower bucket')
  assert.equal(bucketIndex(2), 63)
  assert.equal(bucketIndex(0.5), -65)
  assert.equal(bucketIndex(Infinity), HIGHEST, 'clamped above')
  assert.equal(bucketIndex(Number.MAX_VALUE), HIGHEST)
  assert.equal(bucketIndex(5e-324), LOWEST, 'a subnormal is clamped below')
})

test('bucketIndex: random values across request latencies land in the bucket whose bounds hold them', () => {
  const base = 2 ** (1 / 64)
  let seed = 7
  const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647)
  // 2^-18 s (4 µs) to 2^9 s, and every power of two in it.
  for (let n = 0; n < 200_000; n++) {
    const v = 2 ** (-18 + random() * 27)
    const i = bucketIndex(v)
    assert.ok(base ** i < v * (1 + 1e-12) && v <= base ** (i + 1) * (1 + 1e-12), `${v} in bucket ${i}`)
  }
  for (let e = -18; e <= 9; e++) assert.equal(bucketIndex(2 ** e), e * 64 - 1, `2^${e}`)
})

test('p50/p95/p99/p99.9 within 1 % of the exact values on skewed data', () => {
  for (const seed of [1, 2, 3]) {
    const data = skewed(50_000, seed)
    const h = new LatencyHistogram()
    for (const v of data) h.record(v)
    const sorted = [...data].sort((a, b) => a - b)
    for (const q of [0.5, 0.9, 0.95, 0.99, 0.999]) {
      const want = exact(sorted, q)
      const got = h.quantile(q)
      assert.ok(Math.abs(got - want) / want <= 0.01, `seed ${seed} q${q}: got ${got}, exact ${want}`)
    }
    assert.equal(h.count, data.length)
    assert.equal(h.quantile(0), sorted[0])
    assert.equal(h.quantile(1), sorted.at(-1))
  }
})

test('merge(a, b) equals one histogram built from both inputs', () => {
  const a = skewed(10_000, 7)
  const b = skewed(5_000, 8).map((v) => v * 50) // a different range, to force growth at both ends
  const ha = new LatencyHistogram()
  const hb = new LatencyHistogram()
  const both = new LatencyHistogram()
  for (const v of a) { ha.record(v); both.record(v) }
  for (const v of b) { hb.record(v); both.record(v) }
  const merged = LatencyHistogram.from(ha.toJSON()).merge(hb.toJSON())
  const m = merged.toJSON()
  const w = both.toJSON()
  assert.deepEqual({ ...m, sum: 0 }, { ...w, sum: 0 })
  assert.ok(Math.abs(m.sum - w.sum) / w.sum < 1e-12)
  // Merging in the other order gives the same buckets.
  assert.deepEqual(LatencyHistogram.from(hb.toJSON()).merge(ha.toJSON()).counts, w.counts)
})

test('zero, negative and NaN values', () => {
  const h = new LatencyHistogram()
  h.record(0)
  h.record(-1)
  h.record(Number.NaN)
  for (let i = 0; i < 9; i++) h.record(5)
  assert.equal(h.count, 10)
  assert.equal(h.zeroCount, 1)
  assert.equal(h.quantile(0.05), 0)
  assert.ok(Math.abs(h.quantile(0.5) - 5) / 5 < 0.01)
})

test('a hostile value cannot grow the buckets without bound', () => {
  const h = new LatencyHistogram()
  h.record(1e-300)
  h.record(1e300)
  assert.ok(h.counts.length < 5000)
})

test('each value is counted in the bucket bucketIndex gives it, whether its bucket exists yet or not', () => {
  const h = new LatencyHistogram()
  const expected = new Map<number, number>()
  // Skewed values in seconds: buckets are made below, above and inside those already there.
  for (const ms of skewed(5000, 11)) {
    const s = ms / 1000
    h.record(s)
    const i = bucketIndex(s)
    expected.set(i, (expected.get(i) ?? 0) + 1)
  }
  const counted = new Map<number, number>()
  h.counts.forEach((n, at) => {
    if (n > 0) counted.set(h.offset + at, n)
  })
  assert.deepEqual([...counted].sort((a, b) => a[0] - b[0]), [...expected].sort((a, b) => a[0] - b[0]))
  assert.equal(h.count, 5000)
})
