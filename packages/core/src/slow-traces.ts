import { randomBytes } from 'node:crypto'
import type { SpanRecord } from './request-record.js'

/** A finished slow request, ready to export as a trace (its ids are made at encoding). */
export interface TraceRecord {
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
}

/** A trace id and one span id for the root and each span, from one random read. */
export function newTraceIds(spans: number): { traceId: string; spanIds: string[] } {
  const bytes = randomBytes(16 + 8 * (spans + 1))
  const spanIds: string[] = []
  for (let i = 0; i <= spans; i++) spanIds.push(bytes.subarray(16 + 8 * i, 24 + 8 * i).toString('hex'))
  return { traceId: bytes.subarray(0, 16).toString('hex'), spanIds }
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
