import type { SpanRecord } from './request-record.js'
import type { TraceContext } from './trace-context.js'

/** Why a request's trace is exported. */
export type TraceReason = 'slow' | 'n_plus_one'

/** A finished request kept to export as a trace: a slow one, or an example of an N+1 pattern. */
export interface TraceRecord {
  trace: TraceContext
  reason: TraceReason
  /** Root span name; `METHOD route` by default. */
  name?: string
  method: string
  route: string
  url: string
  status: number
  startEpochMs: number
  durationMs: number
  error?: string
  aborted: boolean
  spans: SpanRecord[]
  droppedSpans: number
  /** A job's trace (a consumer span named `queue/name`), not a request's. */
  job?: { system?: string; queue?: string; name: string; id?: string; outcome: string }
}

/** Keeps the slowest requests of an interval, at most `limit`: a faster one gives way to a slower. */
export class SlowTraceBuffer {
  private traces: TraceRecord[] = []

  constructor(private readonly limit: number) {}

  add(trace: TraceRecord): void {
    if (this.traces.length < this.limit) {
      this.traces.push(trace)
      return
    }
    let fastest = 0
    for (let i = 1; i < this.traces.length; i++) if (this.traces[i]!.durationMs < this.traces[fastest]!.durationMs) fastest = i
    if (this.traces[fastest]!.durationMs < trace.durationMs) this.traces[fastest] = trace
  }

  /** Takes the interval's traces and starts the next one empty. */
  drain(): TraceRecord[] {
    const out = this.traces
    this.traces = []
    return out
  }
}
