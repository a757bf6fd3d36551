import { Worker, type WorkerOptions } from 'node:worker_threads'
import type { Logger } from './logger.js'
import { requestContext } from './request-context.js'

/** What the factory creates resources with; tests swap in failing ones. */
export interface ResourceCreators {
  setInterval: (fn: () => void, ms: number) => NodeJS.Timeout
  setTimeout: (fn: () => void, ms: number) => NodeJS.Timeout
  createWorker: (filename: string | URL, options?: WorkerOptions) => Worker
}

export const defaultCreators: ResourceCreators = {
  setInterval: (fn, ms) => setInterval(fn, ms),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  createWorker: (filename, options) => new Worker(filename, options),
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  return e && typeof e === 'object' ? `${e.code ? e.code + ': ' : ''}${e.message}` : String(err)
}

/**
 * The one place the agent creates background resources. Every creation is
 * guarded: a failure (EAGAIN at a pids ceiling, ERR_WORKER_INIT_FAILED, ...)
 * logs once per resource and returns undefined; it never throws. Every timer
 * is unref'd, so the agent never keeps the app's event loop alive, and every
 * task body is guarded so a bug in the agent cannot reach the app.
 */
export class GuardedFactory {
  constructor(private readonly logger: Logger, private readonly creators: ResourceCreators = defaultCreators) {}

  interval(name: string, ms: number, task: () => unknown): NodeJS.Timeout | undefined {
    return this.create(`timer "${name}"`, () => this.creators.setInterval(this.guardTask(name, task), ms))
  }

  timeout(name: string, ms: number, task: () => unknown): NodeJS.Timeout | undefined {
    return this.create(`timer "${name}"`, () => this.creators.setTimeout(this.guardTask(name, task), ms))
  }

  /**
   * A worker thread of the agent's own. `onLost` runs once if it cannot be
   * created, errors or exits, so the caller can fall back to the main thread.
   */
  worker(name: string, filename: string | URL, options: WorkerOptions, onLost: (why: string) => void): Worker | undefined {
    const worker = this.create(`worker thread "${name}"`, () => this.creators.createWorker(filename, options))
    if (!worker) {
      onLost('creation failed')
      return undefined
    }
    let lost = false
    const lose = (why: string) => {
      if (lost) return
      lost = true
      this.logger.reportOnce(`worker-lost:${name}`, 'warn', 'AGENT_RESOURCE_FAILED', `worker thread "${name}"`, why)
      onLost(why)
    }
    worker.on('error', (err) => lose(reason(err)))
    worker.on('exit', (code) => lose(`exited with code ${code}`))
    worker.unref()
    return worker
  }

  private create<T extends { unref?: () => unknown }>(what: string, make: () => T): T | undefined {
    try {
      // Outside any request's context: the agent's own work is never the app's (and holds no request alive).
      const resource = requestContext.exit(make)
      resource.unref?.()
      this.logger.forget(`resource:${what}`)
      return resource
    } catch (err) {
      this.logger.reportOnce(`resource:${what}`, 'warn', 'AGENT_RESOURCE_FAILED', what, reason(err))
      return undefined
    }
  }

  private guardTask(name: string, task: () => unknown): () => void {
    return () => {
      try {
        const result = task()
        if (result && typeof (result as Promise<unknown>).then === 'function') {
          ;(result as Promise<unknown>).then(
            () => this.logger.forget(`task:${name}`),
            (err) => this.logger.reportOnce(`task:${name}`, 'warn', 'AGENT_TASK_FAILED', name, reason(err)),
          )
        }
      } catch (err) {
        this.logger.reportOnce(`task:${name}`, 'warn', 'AGENT_TASK_FAILED', name, reason(err))
      }
    }
  }
}

export { reason as describeError }
