// Every latency histogram is stored in one form: seconds, exponential at scale 6 (the agent's
// layout), so rows merge by adding buckets whatever sent them. The agent's seconds histograms
// pass through exactly; other scales, units and explicit buckets are spread over the buckets
// their range covers (log-uniformly), within one bucket of where the values were.
import { HISTOGRAM_SCALE, type HistogramData } from '@agent/core/internal'

const PER_OCTAVE = 2 ** HISTOGRAM_SCALE
/** The same guard rails as the agent's histogram: a hostile value cannot grow the array without limit. */
const ZERO_THRESHOLD = 1e-12
const MIN_INDEX = Math.floor(Math.log2(ZERO_THRESHOLD) * PER_OCTAVE)
const MAX_INDEX = Math.ceil(Math.log2(1e9) * PER_OCTAVE)
/** One source bucket is spread over at most this many target buckets (a wide open-ended last bucket). */
const MAX_SPREAD = 4 * PER_OCTAVE
const BASE = 2 ** (1 / PER_OCTAVE)

/** Seconds per unit, for the units OpenTelemetry SDKs use for durations; undefined for anything else. */
export function secondsPerUnit(unit: unknown): number | undefined {
  switch (unit) {
    case 's': return 1
    case 'ms': return 1e-3
    case 'us': case 'μs': return 1e-6
    case 'ns': return 1e-9
    default: return undefined
  }
}

function indexOf(seconds: number): number {
  const i = Math.ceil(Math.log2(seconds) * PER_OCTAVE) - 1
  return i < MIN_INDEX ? MIN_INDEX : i > MAX_INDEX ? MAX_INDEX : i
}

/** Accumulates bucket counts by index, then hands out HistogramData. */
class Builder {
  private readonly buckets = new Map<number, number>()
  zeroCount = 0

  add(index: number, n: number): void {
    if (n > 0) this.buckets.set(index, (this.buckets.get(index) ?? 0) + n)
  }

  /** `n` values somewhere in (low, high] seconds. */
  spread(low: number, high: number, n: number): void {
    if (!(n > 0)) return
    if (!(high > ZERO_THRESHOLD)) {
      this.zeroCount += n
      return
    }
    const last = indexOf(high)
    const first = Math.max(low > ZERO_THRESHOLD ? indexOf(low) + 1 : last, last - MAX_SPREAD + 1)
    const width = Math.max(1, last - first + 1)
    const each = Math.floor(n / width)
    if (each > 0) for (let i = first; i <= last; i++) this.add(i, each)
    // What does not divide evenly is placed at even steps across the range, not heaped at its low end.
    const rest = n - each * width
    for (let k = 0; k < rest; k++) this.add(first + Math.floor(((k + 0.5) * width) / rest), 1)
  }

  build(count: number, sum: number, min: number, max: number): HistogramData {
    const indices = [...this.buckets.keys()].sort((a, b) => a - b)
    const offset = indices[0] ?? 0
    const counts = indices.length ? new Array<number>(indices[indices.length - 1]! - offset + 1).fill(0) : []
    for (const i of indices) counts[i - offset] = this.buckets.get(i)!
    // Unknown extremes (a delta of cumulative points carries none) are the edges of the outer buckets:
    // percentiles are clamped to them, and the stored JSON has no room for Infinity.
    if (!Number.isFinite(min)) min = this.zeroCount > 0 || !indices.length ? 0 : BASE ** offset
    if (!Number.isFinite(max)) max = indices.length ? BASE ** (indices[indices.length - 1]! + 1) : 0
    return { count, sum, min, max, zeroCount: this.zeroCount, offset, counts }
  }
}

const num = (v: unknown): number => (typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN)
const opt = (v: unknown, factor: number): number | undefined => (Number.isFinite(num(v)) ? num(v) * factor : undefined)

export interface ExponentialPoint { count?: unknown; sum?: unknown; min?: unknown; max?: unknown; scale?: unknown; zeroCount?: unknown; positive?: { offset?: unknown; bucketCounts?: unknown[] } }
export interface ExplicitPoint { count?: unknown; sum?: unknown; min?: unknown; max?: unknown; bucketCounts?: unknown[]; explicitBounds?: unknown[] }

/** An OTLP exponential histogram data point, in `factor` seconds per unit, to the stored form. */
export function fromExponential(p: ExponentialPoint, factor: number): HistogramData {
  const scale = Number.isFinite(num(p.scale)) ? num(p.scale) : HISTOGRAM_SCALE
  const offset = Number.isFinite(num(p.positive?.offset)) ? num(p.positive!.offset) : 0
  const counts = (p.positive?.bucketCounts ?? []).map(num)
  const b = new Builder()
  b.zeroCount = Number.isFinite(num(p.zeroCount)) ? num(p.zeroCount) : 0
  if (factor === 1 && scale >= HISTOGRAM_SCALE) {
    // Same unit, finer or equal scale: downscaling is exact (each bucket lies inside one of ours).
    const shift = scale - HISTOGRAM_SCALE
    counts.forEach((n, i) => b.add(Math.max(MIN_INDEX, Math.min(MAX_INDEX, Math.floor((offset + i) / 2 ** shift))), n))
  } else {
    const base = 2 ** (2 ** -scale)
    counts.forEach((n, i) => b.spread(base ** (offset + i) * factor, base ** (offset + i + 1) * factor, n))
  }
  const count = num(p.count)
  return b.build(Number.isFinite(count) ? count : 0, opt(p.sum, factor) ?? 0, opt(p.min, factor) ?? Infinity, opt(p.max, factor) ?? -Infinity)
}

/** An OTLP explicit-bucket histogram data point (what OpenTelemetry SDKs send by default) to the stored form. */
export function fromExplicit(p: ExplicitPoint, factor: number): HistogramData {
  const bounds = (p.explicitBounds ?? []).map(num)
  const counts = (p.bucketCounts ?? []).map(num)
  const min = opt(p.min, factor)
  const max = opt(p.max, factor)
  const b = new Builder()
  counts.forEach((n, j) => {
    // Bucket j holds (bounds[j-1], bounds[j]]; the open ends are closed with min and max when sent.
    let low = j > 0 ? bounds[j - 1]! * factor : (min ?? 0)
    let high = j < bounds.length ? bounds[j]! * factor : (max ?? low * 2)
    if (min !== undefined && low < min) low = Math.min(min, high)
    if (max !== undefined && high > max) high = Math.max(max, low)
    if (high <= low) low = high / 2 ** (1 / PER_OCTAVE) // a single point: its own bucket
    b.spread(low, high, n)
  })
  const count = num(p.count)
  return b.build(Number.isFinite(count) ? count : counts.reduce((a, n) => a + n, 0), opt(p.sum, factor) ?? 0, min ?? Infinity, max ?? -Infinity)
}
