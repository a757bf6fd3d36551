import { noteQueueDepth } from './jobs.js'
import { globalState } from './global-state.js'
import { requestContext } from './request-context.js'

/** What the reading needs of a BullMQ `Worker` (6.x): its queue's name and its backend's one-script count. */
interface CountingWorker {
  name?: unknown
  closing?: unknown
  closed?: unknown
  backend?: { getCounts?: (types: string[]) => Promise<unknown[]> }
}

/** States read in one script call: `prioritized` jobs are waiting too. */
const TYPES = ['waiting', 'prioritized', 'active', 'delayed', 'failed']

/**
 * Queue health: the lengths of each queue a worker of this process serves,
 * read once per report interval with one `getCounts` script call on the
 * worker's own (non-blocking) connection, never more than one in flight per
 * worker, outside any job's context, on an unref'd timer. A worker that
 * closed is forgotten; a failed reading is skipped.
 */
export class QueueHealth {
  private readonly workers = new Set<CountingWorker>()
  private readonly reading = new WeakSet<CountingWorker>()
  private timer: NodeJS.Timeout | undefined
  private periodMs = 0

  /** A worker created or running: read from now on (and once at once). */
  watch(worker: CountingWorker): void {
    if (this.workers.has(worker) || typeof worker.backend?.getCounts !== 'function' || typeof worker.name !== 'string') return
    this.workers.add(worker)
    this.schedule()
    this.read(worker)
  }

  forget(worker: CountingWorker): void {
    this.workers.delete(worker)
    if (this.workers.size === 0) this.stop()
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  private schedule(): void {
    const ms = globalState().agent?.config.flushIntervalMs ?? 60_000
    if (this.timer !== undefined && ms === this.periodMs) return
    this.stop()
    this.periodMs = ms
    try {
      this.timer = requestContext.exit(() => setInterval(() => this.readAll(), ms))
      this.timer.unref()
    } catch {
      this.timer = undefined
    }
  }

  private readAll(): void {
    for (const worker of this.workers) this.read(worker)
  }

  private read(worker: CountingWorker): void {
    if (worker.closing || worker.closed) {
      this.forget(worker)
      return
    }
    if (this.reading.has(worker)) return
    this.reading.add(worker)
    const done = () => this.reading.delete(worker)
    try {
      requestContext.exit(() => worker.backend!.getCounts!(TYPES)).then((counts) => {
        done()
        const n = (i: number) => Number(counts?.[i] ?? 0) || 0
        noteQueueDepth({ queue: worker.name as string, waiting: n(0) + n(1), active: n(2), delayed: n(3), failed: n(4) })
      }, done)
    } catch {
      done()
    }
  }
}
