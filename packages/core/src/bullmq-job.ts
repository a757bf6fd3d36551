import type { JobOutcome } from './aggregator.js'
import { startJob, type JobOptions } from './jobs.js'
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
  const err = error as { name?: unknown; message?: unknown } | null | undefined
  const name = typeof err?.name === 'string' ? err.name : ''
  if (MOVED.has(name) || err?.message === RATE_LIMIT_MESSAGE) return 'retried'
  if (name === 'UnrecoverableError') return 'failed'
  const attempts = Number(job.opts?.attempts ?? 0)
  const made = Number(job.attemptsMade ?? 0)
  if (typeof maxStartedAttempts === 'number' && maxStartedAttempts > 0 && maxStartedAttempts <= Number(job.attemptsStarted ?? 0)) return 'failed'
  return made + 1 < attempts ? 'retried' : 'failed'
}

/**
 * Runs a BullMQ processor as one job of the agent's (see jobs.ts): named by
 * the job's name under its queue, waited from when it was enqueued (its
 * delay added), linked to the producer's trace, and ended when the
 * processor's promise settles: completed, or retried or failed as BullMQ will
 * settle it. Returns what `run` returns; errors pass through untouched.
 */
export function measureJob(job: BullJob, queue: unknown, run: () => unknown, maxStartedAttempts?: unknown): unknown {
  let active
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
    active = startJob(typeof job.name === 'string' ? job.name : String(job.name), options)
  } catch {
    return run()
  }
  const measured = active
  let result: unknown
  try {
    result = measured.run(run)
  } catch (error) {
    measured.end(outcomeOfFailure(job, error, maxStartedAttempts), error)
    throw error
  }
  if (result === null || typeof result !== 'object' || typeof (result as { then?: unknown }).then !== 'function') {
    measured.end('completed')
    return result
  }
  // The caller gets a promise that settles as the processor's does.
  return (result as Promise<unknown>).then(
    (value) => {
      measured.end('completed')
      return value
    },
    (error: unknown) => {
      measured.end(outcomeOfFailure(job, error, maxStartedAttempts), error)
      throw error
    },
  )
}
