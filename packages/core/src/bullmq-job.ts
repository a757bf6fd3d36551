import type { JobOutcome } from './aggregator.js'
import { startJob, type ActiveJob, type JobOptions } from './jobs.js'
import { stripTraceOption, traceCarrierOf } from './bullmq-trace-carrier.js'

/** What the agent reads of a BullMQ job: a `Job` in the worker, its JSON form (`asJSONSandbox`) in a sandboxed child. */
export interface BullJob {
  id?: unknown
  name?: unknown
  data?: unknown
  opts?: Record<string, unknown>
  timestamp?: unknown
  attemptsMade?: unknown
  attemptsStarted?: unknown
  queueName?: unknown
}

/**
 * The errors a processor throws to move its own job (`moveToDelayed`,
 * `moveToWaitingChildren`, `moveToWait`, a rate limit): BullMQ neither
 * completes nor fails the job; it runs again, so it counts as retried.
 */
const MOVED = new Set(['DelayedError', 'WaitingError', 'WaitingChildrenError', 'RateLimitError'])
const RATE_LIMIT_MESSAGE = 'bullmq:rateLimitExceeded'

/**
 * How BullMQ (6.x, `Job.shouldRetryJob`) will settle a job whose processor
 * threw: retried while attempts are left (`attemptsMade + 1 < attempts`),
 * unless the error is an `UnrecoverableError` or the worker's
 * `maxStartedAttempts` is reached; failed otherwise. A custom backoff
 * strategy that answers -1 (fail now) is not asked: such a job counts as
 * retried.
 */
export function outcomeOfFailure(job: BullJob, error: unknown, maxStartedAttempts?: unknown): JobOutcome {
  if (movedItself(error)) return 'retried'
  if ((error as { name?: unknown } | null | undefined)?.name === 'UnrecoverableError') return 'failed'
  const attempts = Number(job.opts?.attempts ?? 0)
  const made = Number(job.attemptsMade ?? 0)
  if (typeof maxStartedAttempts === 'number' && maxStartedAttempts > 0 && maxStartedAttempts <= Number(job.attemptsStarted ?? 0)) return 'failed'
  return made + 1 < attempts ? 'retried' : 'failed'
}

/** Whether BullMQ neither completes nor fails a job whose processor threw this: it moved the job itself, which runs again. */
export function movedItself(error: unknown): boolean {
  const err = error as { name?: unknown; message?: unknown } | null | undefined
  return (typeof err?.name === 'string' && MOVED.has(err.name)) || err?.message === RATE_LIMIT_MESSAGE
}

/**
 * Starts one job of the agent's (see jobs.ts) for a BullMQ job: named by its
 * name under its queue, waited from when it was enqueued (its delay added),
 * linked to the producer's trace (the agent's option, taken off the job here,
 * or its data). Undefined if it cannot be measured; never throws.
 */
export function beginJob(job: BullJob, queue: unknown): ActiveJob | undefined {
  try {
    const carrier = traceCarrierOf(job)
    stripTraceOption(job)
    const options: JobOptions = { system: 'bullmq' }
    if (typeof queue === 'string') options.queue = queue
    if (job.id !== undefined && job.id !== null) options.id = String(job.id)
    if (typeof job.timestamp === 'number') {
      const delay = Number(job.opts?.delay ?? 0)
      options.enqueuedAtMs = job.timestamp + (Number.isFinite(delay) && delay > 0 ? delay : 0)
    }
    if (carrier?.traceparent !== undefined) options.traceparent = carrier.traceparent
    if (carrier?.tracestate !== undefined) options.tracestate = carrier.tracestate
    return startJob(typeof job.name === 'string' ? job.name : String(job.name), options)
  } catch {
    return undefined
  }
}

/**
 * Runs a processor as the job `active`; `settled` is told how it went (its
 * error, or undefined) once its promise settles. Returns what `run` returns
 * (a promise settling as the processor's does); errors pass through untouched.
 */
export function runJob(active: ActiveJob, run: () => unknown, settled: (error: unknown, threw: boolean) => void): unknown {
  let result: unknown
  try {
    result = active.run(run)
  } catch (error) {
    settled(error, true)
    throw error
  }
  if (result === null || typeof result !== 'object' || typeof (result as { then?: unknown }).then !== 'function') {
    settled(undefined, false)
    return result
  }
  return (result as Promise<unknown>).then(
    (value) => {
      settled(undefined, false)
      return value
    },
    (error: unknown) => {
      settled(error, true)
      throw error
    },
  )
}

/**
 * Where BullMQ's worker is not in the process (a sandboxed child or thread):
 * the job ends when its processor settles, completed or as BullMQ will settle
 * the failure (`outcomeOfFailure`).
 */
export function measureJob(job: BullJob, queue: unknown, run: () => unknown, maxStartedAttempts?: unknown): unknown {
  const active = beginJob(job, queue)
  if (active === undefined) return run()
  return runJob(active, run, (error, threw) => active.end(threw ? outcomeOfFailure(job, error, maxStartedAttempts) : 'completed', threw ? error : undefined))
}
