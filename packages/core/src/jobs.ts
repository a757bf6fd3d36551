// The job API: a job is measured like a request, under its queue and name,
// with its outcome and its wait in the queue. BullMQ's workers are measured
// through it automatically; any other job loop (a cron task, a queue consumer
// the agent does not know) calls `recordJob` or `startJob`.
import type { JobOutcome, QueueDepth } from './aggregator.js'
import { globalState } from './global-state.js'
import { JobRecord, type JobInfo } from './job-record.js'
import { currentRequest, requestContext } from './request-context.js'
import { traceOf } from './request-record.js'
import { formatTraceparent, TRACEPARENT, TRACESTATE } from './trace-context.js'

export type { JobOutcome }

export interface JobOptions {
  queue?: string
  /** The job's id, exported with its errors and trace (never its data). */
  id?: string | number
  /** When it was enqueued (epoch ms): its wait in the queue is measured from there. */
  enqueuedAtMs?: number
  /** The trace context it was enqueued with (`injectTraceContext` on the producer's side). */
  traceparent?: string
  tracestate?: string
  /** Set by the agent's own instrumentations (`bullmq`). */
  system?: string
}

export interface ActiveJob {
  /** Runs `fn` as this job's work: its client calls and spans are the job's. */
  run<T>(fn: () => T): T
  /** Ends the job: `completed` by default, `failed` with an error. Idempotent. */
  end(outcome?: JobOutcome, error?: unknown): void
}

const noopJob: ActiveJob = { run: (fn) => fn(), end() {} }

/** Starts measuring a job; pair with `end`. Never throws; a no-op while no agent runs. */
export function startJob(name: string, options: JobOptions = {}): ActiveJob {
  try {
    const agent = globalState().agent
    if (agent === undefined || (agent.state !== 'started' && agent.state !== 'standby')) return noopJob
    // A job is a sign of work, as a request is: an agent standing by starts.
    agent.onRequestStart(undefined)
    const info: JobInfo = { name: String(name) }
    if (options.system !== undefined) info.system = options.system
    if (options.queue !== undefined) info.queue = String(options.queue)
    if (options.id !== undefined) info.id = String(options.id)
    if (typeof options.enqueuedAtMs === 'number' && Number.isFinite(options.enqueuedAtMs)) info.enqueuedAtMs = options.enqueuedAtMs
    const record = new JobRecord(info, options)
    let ended = false
    return {
      run: (fn) => requestContext.run(record, fn),
      end(outcome = 'completed', error) {
        if (ended) return
        ended = true
        try {
          agent.recorder.finishJob(record, outcome, error)
        } catch {
          // a measurement lost, never the job
        }
        record.end()
      },
    }
  } catch {
    return noopJob
  }
}

/**
 * Runs `fn` as one job and measures it: `completed` when it returns (or its
 * promise resolves), `failed` when it throws (or rejects). Returns what `fn`
 * returns; a promise is returned as a promise settling the same way.
 */
export function recordJob<T>(name: string, fn: () => T, options?: JobOptions): T {
  const job = startJob(name, options)
  let result: T
  try {
    result = job.run(fn)
  } catch (err) {
    job.end('failed', err)
    throw err
  }
  if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
    return (result as unknown as PromiseLike<unknown>).then(
      (value) => {
        job.end('completed')
        return value
      },
      (err: unknown) => {
        job.end('failed', err)
        throw err
      },
    ) as T
  }
  job.end('completed')
  return result
}

/**
 * Writes the current request's (or job's) trace context into `carrier` as
 * `traceparent` and `tracestate`, for a job enqueued from it; does nothing
 * outside any. Returns the carrier.
 */
export function injectTraceContext<C extends Record<string, unknown>>(carrier: C): C {
  try {
    const request = currentRequest()
    if (request === undefined) return carrier
    const trace = traceOf(request)
    ;(carrier as Record<string, unknown>)[TRACEPARENT] = formatTraceparent(trace, trace.spanId)
    if (trace.traceState !== undefined) (carrier as Record<string, unknown>)[TRACESTATE] = trace.traceState
  } catch {
    // the job goes without its producer's context
  }
  return carrier
}

/** A job worker was created (BullMQ's `Worker`): as a server detected, an agent standing by starts. */
export function noteJobWorker(): void {
  try {
    const agent = globalState().agent
    if (agent?.state === 'standby') agent.onRequestStart(undefined)
  } catch {
    // the agent starts at the first job instead
  }
}

/** The latest lengths of a queue this process serves (`agent.queue.jobs`). */
export function noteQueueDepth(depth: QueueDepth): void {
  try {
    globalState().agent?.recorder.noteQueueDepth(depth)
  } catch {
    // one reading lost
  }
}
