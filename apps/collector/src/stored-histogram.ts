// Reads a stored latency histogram back, whatever release of the collector wrote it.
import type { LatencyHistogram } from '@agent/core/internal'
import { fromExponential, secondsPerUnit, type ExponentialPoint } from './histogram-convert.js'

/** Adds a stored histogram (seconds, scale 6) into `into`; rows written before that hold the agent's OTLP data point in ms. */
export function mergeStored(into: LatencyHistogram, hist: string | null, unit: string): void {
  if (!hist) return
  const parsed = JSON.parse(hist) as unknown
  if (unit === 's') into.merge(parsed as Parameters<LatencyHistogram['merge']>[0])
  else into.merge(fromExponential(parsed as ExponentialPoint, secondsPerUnit(unit) ?? 1e-3))
}
