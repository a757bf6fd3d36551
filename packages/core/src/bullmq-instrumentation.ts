import { noteJobWorker, startJob } from './jobs.js'
import { releaseMethods, wrapMethod, type WrapSlot } from './method-wrap.js'
import { watchPackage } from './module-hook.js'
import { wantContext } from './request-context.js'
import type { ActiveJob } from './jobs.js'
import { beginJob, measureJob, movedItself, runJob, type BullJob } from './bullmq-job.js'
import { QueueHealth } from './bullmq-queue-health.js'
import { neverStarted, prepareThread, sayChildLost } from './bullmq-sandbox.js'
import { stripTraceOption, withTraceContext } from './bullmq-trace-carrier.js'
import { kBullmqMeasured } from './symbols.js'

type Fn = (this: unknown, ...args: unknown[]) => unknown
type Proto = Record<string, unknown>

/** What the wrappers read of a BullMQ `Worker` (6.x). */
interface BullWorker {
  name?: unknown
  childPool?: unknown
  opts?: { maxStartedAttempts?: unknown }
  Job?: { fromId?: (queue: unknown, id: unknown) => Promise<{ name?: unknown } | undefined> }
}

/** The prototype that defines `method` itself, or undefined. */
function own(ctor: unknown, method: string): Proto | undefined {
  const proto = (ctor as { prototype?: Proto } | undefined)?.prototype
  return proto && Object.prototype.hasOwnProperty.call(proto, method) && typeof proto[method] === 'function' ? proto : undefined
}

function isThenable(value: unknown): value is Promise<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function'
}

/**
 * BullMQ (`bullmq` 6.x, checked on 6.7.0), hooked when its modules load
 * (a `Module._load` watcher: bullmq ships CommonJS only, so ESM apps load it
 * the same way), with wrappers on its prototypes, installed once per process
 * and passing through when the agent is stopped. Each returns what BullMQ's
 * method returns and throws what it throws; no listener is added to anything
 * the app can see.
 *
 * - `Worker.prototype.createLockManager` (called by every Worker's
 *   constructor) and `run`: a job worker exists; it counts as a server
 *   detected (`noteJobWorker`) and its queue's health is read per interval.
 * - `Worker.prototype.callProcessJob`: each job of an in-process processor is
 *   measured from its processor's start, with the processor run in its
 *   context, to BullMQ's own 'completed' or 'failed' event for it
 *   (`Worker.prototype.emit`): completed; failed when BullMQ failed it for
 *   good (`finishedOn` set), else retried. A job BullMQ did not settle (its
 *   lock lost, as when it stalled; the worker closing) is not counted: its
 *   stall is, where detected. One whose processor moved it
 *   (`moveToDelayed`, a rate limit) counts as retried when `processJob`
 *   settles. With a sandboxed processor, the child measures it
 *   (`ChildProcessor.prototype.start`); the parent counts only a job that
 *   failed without reaching a child, at its 'failed' event.
 * - `Worker.prototype.emit`: besides, 'stalled' is counted (outcome stalled).
 * - `Queue.prototype.add` / `addBulk`: from inside a request or job, the
 *   job carries its trace context (see bullmq-trace-carrier.ts).
 * - `Child.prototype.init`, `ChildPool.prototype.retain`: a sandbox thread
 *   gets the agent; a job that never reached a child is known.
 */
export class BullmqInstrumentation {
  /** On before the agent starts: creating a Worker is what starts an agent standing by in a process with no HTTP server. */
  readonly enableInStandby = true
  private enabled = false
  private unwatch: (() => void) | undefined
  private readonly protos = new Set<object>()
  readonly health = new QueueHealth()

  enable(): void {
    if (this.enabled) return
    this.enabled = true
    this.unwatch = watchPackage('bullmq', (exports) => this.onLoad(exports))
  }

  disable(): void {
    if (!this.enabled) return
    this.enabled = false
    this.unwatch?.()
    this.unwatch = undefined
    this.health.stop()
    for (const proto of this.protos) releaseMethods(proto, this)
  }

  /** Any module of bullmq: its index, or one class's own module. */
  private onLoad(exports: unknown): void {
    if (exports === null || (typeof exports !== 'object' && typeof exports !== 'function')) return
    const m = exports as Record<string, unknown>
    const wrap = (proto: Proto | undefined, method: string, make: (original: Fn, slot: WrapSlot<BullmqInstrumentation>) => Fn) => {
      if (proto && wrapMethod(proto, method, this, make)) this.protos.add(proto)
    }
    const worker = own(m.Worker, 'callProcessJob')
    if (worker) {
      // Jobs run processors that query: their calls enter the job's context from now on.
      wantContext()
      wrap(worker, 'callProcessJob', wrapCallProcessJob)
      wrap(own(m.Worker, 'processJob'), 'processJob', wrapProcessJob)
      wrap(own(m.Worker, 'createLockManager'), 'createLockManager', wrapWorkerStart)
      wrap(own(m.Worker, 'run'), 'run', wrapWorkerStart)
      wrap(own(m.Worker, 'emit'), 'emit', wrapEmit)
    }
    const queue = own(m.Queue, 'add')
    if (queue) {
      wrap(queue, 'add', wrapAdd)
      wrap(own(m.Queue, 'addBulk'), 'addBulk', wrapAddBulk)
    }
    wrap(own(m.Child, 'init'), 'init', wrapChildInit)
    wrap(own(m.ChildPool, 'retain'), 'retain', wrapRetain)
    const childProcessor = own(m.ChildProcessor, 'start')
    if (childProcessor) {
      wantContext()
      wrap(childProcessor, 'start', wrapChildStart)
    }
  }

  /** A Worker was made or runs: the agent starts (as for a server) and its queue is read per interval. */
  noteWorker(worker: unknown): void {
    noteJobWorker()
    this.health.watch(worker as Parameters<QueueHealth['watch']>[0])
  }
}

function wrapWorkerStart(original: Fn, slot: WrapSlot<BullmqInstrumentation>): Fn {
  return function (this: unknown) {
    const result = original.apply(this, arguments as unknown as unknown[])
    try {
      slot.target?.noteWorker(this)
    } catch {
      // never the app's worker
    }
    return result
  }
}

/** In-process jobs in flight, until BullMQ's event for them: the measurement and how the processor settled. */
const inFlight = new WeakMap<object, { active: ActiveJob; threw: boolean; error: unknown }>()
/** Jobs handed to a sandboxed processor: their child measures them. */
const handedOver = new WeakSet<object>()

function wrapCallProcessJob(original: Fn, slot: WrapSlot<BullmqInstrumentation>): Fn {
  return function callProcessJob(this: unknown, job?: unknown) {
    const worker = this as BullWorker
    if (slot.target === undefined || job === null || typeof job !== 'object') return original.apply(this, arguments as unknown as unknown[])
    const args = arguments as unknown as unknown[]
    // Sandboxed: the child measures; the parent only hears how it went.
    if (worker.childPool !== undefined) {
      handedOver.add(job)
      const result = original.apply(this, args)
      if (isThenable(result)) {
        result.then(undefined, (error: unknown) => {
          // It never reached a child: counted here, at BullMQ's 'failed' event.
          if (error !== null && typeof error === 'object' && neverStarted.has(error)) handedOver.delete(job)
          else sayChildLost(job as BullJob, worker.name, error)
        })
      }
      return result
    }
    const active = beginJob(job as BullJob, worker.name)
    if (active === undefined) return original.apply(this, args)
    const entry = { active, threw: false, error: undefined as unknown }
    inFlight.set(job, entry)
    return runJob(active, () => original.apply(this, args), (error, threw) => {
      entry.threw = threw
      entry.error = error
    })
  }
}

/** Once BullMQ is done with a job: one whose processor moved it ends as retried; one BullMQ did not settle is not counted. */
function wrapProcessJob(original: Fn, slot: WrapSlot<BullmqInstrumentation>): Fn {
  return function processJob(this: unknown, job?: unknown) {
    const result = original.apply(this, arguments as unknown as unknown[])
    if (slot.target !== undefined && job !== null && typeof job === 'object' && isThenable(result)) {
      const settle = () => {
        const entry = inFlight.get(job)
        if (entry === undefined) return
        inFlight.delete(job)
        if (entry.threw && movedItself(entry.error)) entry.active.end('retried', entry.error)
      }
      result.then(settle, settle)
    }
    return result
  }
}

function wrapEmit(original: Fn, slot: WrapSlot<BullmqInstrumentation>): Fn {
  return function emit(this: unknown, event?: unknown, job?: unknown, error?: unknown) {
    if (slot.target !== undefined) {
      try {
        if (event === 'completed' || event === 'failed') settleJob(this as BullWorker, event, job, error)
        else if (event === 'stalled') noteStalled(this as BullWorker, job)
        else if (event === 'closed') slot.target.health.forget(this as object)
      } catch {
        // never the app's events
      }
    }
    return original.apply(this, arguments as unknown as unknown[])
  }
}

/** BullMQ settled a job: its measurement ends as BullMQ settled it; a job that failed without running anywhere is counted now. */
function settleJob(worker: BullWorker, event: 'completed' | 'failed', job: unknown, error: unknown): void {
  if (job === null || typeof job !== 'object') return
  const outcome = event === 'completed' ? 'completed' : (job as { finishedOn?: unknown }).finishedOn ? 'failed' : 'retried'
  const entry = inFlight.get(job)
  if (entry !== undefined) {
    inFlight.delete(job)
    entry.active.end(outcome, event === 'failed' ? error : undefined)
  } else if (event === 'failed' && !handedOver.has(job)) {
    // Failed before any processor ran (a child that could not start, `maxStartedAttempts`).
    beginJob(job as BullJob, worker.name)?.end(outcome, error)
  }
}

/**
 * A job BullMQ found stalled (its worker lost its lock: died or blocked its
 * event loop) and moved back to wait: counted under its name, read from the
 * queue without blocking anything; under `(stalled)` if it cannot be read.
 */
function noteStalled(worker: BullWorker, jobId: unknown): void {
  const record = (name: unknown) => {
    startJob(typeof name === 'string' ? name : '(stalled)', { system: 'bullmq', ...(typeof worker.name === 'string' ? { queue: worker.name } : {}), ...(jobId !== undefined ? { id: String(jobId) } : {}) }).end('stalled')
  }
  const fromId = worker.Job?.fromId
  if (typeof fromId !== 'function') return record(undefined)
  fromId.call(worker.Job, worker, jobId).then((job) => record(job?.name), () => record(undefined))
}

function wrapAdd(original: Fn, slot: WrapSlot<BullmqInstrumentation>): Fn {
  return function add(this: unknown, name?: unknown, data?: unknown, opts?: unknown) {
    let withContext: unknown = opts
    try {
      if (slot.target !== undefined) withContext = withTraceContext(opts)
    } catch {
      withContext = opts
    }
    if (withContext === opts) return original.apply(this, arguments as unknown as unknown[])
    const args = Array.prototype.slice.call(arguments)
    args[2] = withContext
    const result = original.apply(this, args)
    // The job the app gets back has the options it gave.
    return isThenable(result) ? result.then((job) => (stripTraceOption(job), job)) : result
  }
}

function wrapAddBulk(original: Fn, slot: WrapSlot<BullmqInstrumentation>): Fn {
  return function addBulk(this: unknown, jobs?: unknown) {
    let given: unknown[] | undefined
    try {
      if (slot.target !== undefined && Array.isArray(jobs)) {
        let changed = false
        given = jobs.map((job: unknown) => {
          if (job === null || typeof job !== 'object') return job
          const opts = (job as { opts?: unknown }).opts
          const withContext = withTraceContext(opts)
          if (withContext === opts) return job
          changed = true
          return { ...(job as object), opts: withContext }
        })
        if (!changed) given = undefined
      }
    } catch {
      given = undefined
    }
    if (given === undefined) return original.apply(this, arguments as unknown as unknown[])
    const args = Array.prototype.slice.call(arguments)
    args[0] = given
    const result = original.apply(this, args)
    return isThenable(result) ? result.then((added) => (Array.isArray(added) && added.forEach(stripTraceOption), added)) : result
  }
}

function wrapChildInit(original: Fn, slot: WrapSlot<BullmqInstrumentation>): Fn {
  return function init(this: unknown) {
    if (slot.target !== undefined) prepareThread(this as Parameters<typeof prepareThread>[0])
    return original.apply(this, arguments as unknown as unknown[])
  }
}

function wrapRetain(original: Fn, slot: WrapSlot<BullmqInstrumentation>): Fn {
  return function retain(this: unknown) {
    const result = original.apply(this, arguments as unknown as unknown[])
    if (slot.target === undefined || !isThenable(result)) return result
    return result.then(undefined, (error: unknown) => {
      if (error !== null && typeof error === 'object') neverStarted.add(error)
      throw error
    })
  }
}


/**
 * In a sandboxed child or thread: BullMQ's `ChildProcessor.start` calls its
 * `processor` (set by `init` from the app's file) with the job's JSON form.
 * Before the first start, that processor is wrapped once to measure each job
 * here, where it runs.
 */
function wrapChildStart(original: Fn, slot: WrapSlot<BullmqInstrumentation>): Fn {
  return function start(this: unknown) {
    try {
      const processor = this as { processor?: Fn & { [kBullmqMeasured]?: true } }
      const fn = processor.processor
      if (slot.target !== undefined && typeof fn === 'function' && !fn[kBullmqMeasured]) {
        const measured = function (this: unknown, job: unknown) {
          const args = arguments as unknown as unknown[]
          if (slot.target === undefined || job === null || typeof job !== 'object') return fn.apply(this, args)
          const j = job as BullJob
          return measureJob(j, j.queueName, () => fn.apply(this, args))
        } as Fn & { [kBullmqMeasured]?: true }
        measured[kBullmqMeasured] = true
        processor.processor = measured
      }
    } catch {
      // the job runs unmeasured
    }
    return original.apply(this, arguments as unknown as unknown[])
  }
}
