import { RequestRecord, startNow } from './request-record.js'
import { contextFrom } from './trace-context.js'

/** What is known of a job when it starts. */
export interface JobInfo {
  /** `bullmq`, or none for the app's own job loop. */
  system?: string
  queue?: string
  name: string
  id?: string
  /** When it was put in the queue (epoch ms): its wait is measured from here to its start. */
  enqueuedAtMs?: number
}

/**
 * A job in flight: a request record (its client calls, spans and time by
 * layer work the same) that no HTTP request started, with what names it.
 */
export class JobRecord extends RequestRecord {
  private ended = false

  constructor(readonly job: JobInfo, carrier?: { traceparent?: unknown; tracestate?: unknown }) {
    super(job.queue !== undefined ? `${job.queue}/${job.name}` : job.name, startNow('JOB'))
    // The context of whoever enqueued it, where the job carries one.
    if (carrier?.traceparent !== undefined) this.trace = contextFrom(carrier)
  }

  override get done(): boolean {
    return this.ended
  }

  /** Ends it: spans and calls that end later are not its. */
  end(): void {
    this.ended = true
  }
}
