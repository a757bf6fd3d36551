import { Aggregator, type IntervalSnapshot } from './aggregator.js'

/** Processes whose totals are kept; past it the longest-known is forgotten (restarted workers come and go). */
const MAX_PROCESSES = 256

/**
 * Running totals since start, per process, for backends that want cumulative
 * temporality (Prometheus and its kin): each interval is added, and the
 * totals so far are what is exported, with the first interval's start.
 */
export class CumulativeTotals {
  private readonly byProcess = new Map<string, Aggregator>()

  constructor(private readonly maxEndpoints: number) {}

  /** Adds a process's interval to its totals; returns its totals so far. */
  add(process: string, interval: IntervalSnapshot): IntervalSnapshot {
    let totals = this.byProcess.get(process)
    if (totals === undefined) {
      if (this.byProcess.size >= MAX_PROCESSES) this.byProcess.delete(this.byProcess.keys().next().value!)
      totals = new Aggregator(this.maxEndpoints)
      this.byProcess.set(process, totals)
    }
    totals.merge(interval)
    return totals.snapshot(interval.endMs)
  }
}
