import { injectTraceContext } from './jobs.js'
import { TRACEPARENT, TRACESTATE } from './trace-context.js'

/**
 * The job option the producer's trace context travels in. BullMQ (6.x)
 * stores a job's options as JSON and gives back the keys it does not know
 * as they were (`Job.optsFromJSON`), so the context rides with the job, its
 * retries included, in the worker's and a sandboxed child's `job.opts`. The
 * agent takes it off the options the app sees: the job `add` returns and the
 * job its processor gets.
 */
export const TRACE_OPTION = 'agent.trace'

export interface TraceCarrier {
  traceparent?: string
  tracestate?: string
}

type Opts = Record<string, unknown> | undefined

/** `opts` with the current request's (or job's) context added; `opts` itself where there is none (nothing is copied). */
export function withTraceContext(opts: unknown): unknown {
  if (opts !== undefined && opts !== null && typeof opts !== 'object') return opts
  if (opts && Object.prototype.hasOwnProperty.call(opts, TRACE_OPTION)) return opts
  const carrier = injectTraceContext({} as Record<string, unknown>)
  if (carrier[TRACEPARENT] === undefined) return opts
  const tc: TraceCarrier = { traceparent: carrier[TRACEPARENT] as string }
  if (typeof carrier[TRACESTATE] === 'string') tc.tracestate = carrier[TRACESTATE] as string
  return { ...(opts as Opts), [TRACE_OPTION]: tc }
}

/** Takes the agent's option off a job (an instance `add` returned, or the one a processor gets). Never throws. */
export function stripTraceOption(job: unknown): void {
  try {
    const opts = (job as { opts?: Opts } | null | undefined)?.opts
    if (opts && Object.prototype.hasOwnProperty.call(opts, TRACE_OPTION)) delete opts[TRACE_OPTION]
  } catch {
    // a frozen or odd object: left as it is
  }
}

/**
 * The context a job was enqueued with: the agent's option where an
 * instrumented producer put it, else `traceparent`/`tracestate` in its data
 * where the producer put them itself (`injectTraceContext(data)`).
 */
export function traceCarrierOf(job: { opts?: Opts; data?: unknown }): TraceCarrier | undefined {
  const own = job.opts?.[TRACE_OPTION] as TraceCarrier | undefined
  if (own && typeof own === 'object' && typeof own.traceparent === 'string') return own
  const data = job.data as Record<string, unknown> | null | undefined
  if (data && typeof data === 'object' && typeof data[TRACEPARENT] === 'string') {
    return { traceparent: data[TRACEPARENT] as string, ...(typeof data[TRACESTATE] === 'string' ? { tracestate: data[TRACESTATE] as string } : {}) }
  }
  return undefined
}
