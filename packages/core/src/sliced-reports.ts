import type { Exporter } from './exporter.js'
import { describeError } from './guards.js'
import type { Logger } from './logger.js'
import type { MetricsEncoding } from './otlp-encoder.js'

/**
 * The most event-loop time one slice of a report's encoding takes: an app
 * with hundreds of endpoints gets no latency spike at each report.
 */
const SLICE_MS = 1

/** A metrics report on its way to the exporter. */
export interface PendingReport {
  encoding: MetricsEncoding
  requests: number
  settled?: () => void
}

/**
 * Metrics reports encoded a slice per turn of the event loop, each handed to
 * the exporter once encoded. `finishAll` completes them at once, for a
 * delivery that must include them (before exit).
 */
export class SlicedReports {
  private readonly pending = new Set<PendingReport>()

  constructor(private readonly exporter: Exporter, private readonly logger: Logger) {}

  get size(): number {
    return this.pending.size
  }

  /** Encodes and enqueues `report` at once. */
  now(report: PendingReport): void {
    this.enqueueWithin(report, Infinity)
  }

  /** Encodes `report` a slice per turn of the event loop, from the next one on, then enqueues it. */
  inSlices(report: PendingReport): void {
    this.pending.add(report)
    const slice = () => {
      // Finished at once meanwhile (a delivery before exit).
      if (!this.pending.has(report)) return
      try {
        if (!this.enqueueWithin(report, SLICE_MS)) {
          setImmediate(slice)
          return
        }
      } catch (err) {
        this.logger.reportOnce('encode-failed', 'warn', 'AGENT_TASK_FAILED', 'encoding a report', describeError(err))
      }
      this.pending.delete(report)
    }
    // This turn took the interval and built the payload's skeleton: the endpoints start in the next.
    setImmediate(slice)
  }

  /** Every report still in slices, finished and enqueued now. */
  finishAll(): void {
    for (const report of this.pending) this.enqueueWithin(report, Infinity)
    this.pending.clear()
  }

  private enqueueWithin({ encoding, requests, settled }: PendingReport, budgetMs: number): boolean {
    if (!encoding.step(budgetMs)) return false
    this.exporter.enqueue({ signal: 'metrics', body: encoding.result(), requests, ...(settled ? { settled } : {}) })
    return true
  }
}
