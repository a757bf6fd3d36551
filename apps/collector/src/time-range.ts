// The dashboard's time ranges and the chart bucket each one uses (about 60 to 100 points).
export const RANGES = {
  '15m': { ms: 15 * 60_000, bucketMs: 15_000 },
  '1h': { ms: 60 * 60_000, bucketMs: 60_000 },
  '6h': { ms: 6 * 60 * 60_000, bucketMs: 5 * 60_000 },
  '24h': { ms: 24 * 60 * 60_000, bucketMs: 15 * 60_000 },
  '7d': { ms: 7 * 24 * 60 * 60_000, bucketMs: 2 * 60 * 60_000 },
} as const

export type RangeName = keyof typeof RANGES
export const DEFAULT_RANGE: RangeName = '1h'

export interface TimeRange { name: RangeName; from: number; to: number; ms: number; bucketMs: number }

/** The range a query asked for, ending now; undefined for a name that is not one of RANGES. */
export function timeRange(name: string | null, now: number): TimeRange | undefined {
  const key = (name ?? DEFAULT_RANGE) as RangeName
  if (!Object.hasOwn(RANGES, key)) return undefined
  const r = RANGES[key]
  return { name: key, from: now - r.ms, to: now, ms: r.ms, bucketMs: r.bucketMs }
}

/** `90s`, `15m`, `24h`, `7d` in ms; undefined when it is none of these. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text.trim())
  if (!m) return undefined
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']
}
