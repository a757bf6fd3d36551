import type { Worker } from 'node:cluster'
import { Aggregator, type IntervalSnapshot } from './aggregator.js'
import { UnreadableHandOver, unpackInterval, type NameDef } from './hand-over-wire.js'
import { AGENT_CMD, WIRE_PACKED, isAgentMessage, type AgentMessage } from './ipc-messages.js'
import type { Logger } from './logger.js'
import type { KeyValue, LostWorker } from './otlp-encoder.js'
import type { RuntimeSnapshot } from './runtime-metrics.js'

export interface WorkerState {
  worker: Worker
  pid: number
  instanceId?: string
  resource?: KeyValue[]
  aggregator: Aggregator
  /** The names its packed hand-overs refer to by number, as it sent them. */
  names: NameDef[]
  runtime?: RuntimeSnapshot
  /** The last hand-over merged and not yet taken by `drain`. */
  seq: number
  /** When its last hand-over arrived (or it was registered): what a death loses starts there. */
  lastHandOverMs: number
  /** It handed over its last interval (graceful exit). */
  final: boolean
  exited: boolean
  waiters: (() => void)[]
}

export interface WorkerInterval {
  resource: KeyValue[]
  interval: IntervalSnapshot
  runtime?: RuntimeSnapshot
  /** The last hand-over this interval holds. */
  handOverThrough?: number
}

/** Which hand-over of which worker a payload holds: acknowledged once that payload settles. */
export type HandOverMarks = ReadonlyArray<readonly [WorkerState, number]>

/** A message to a worker that is going away is lost with it; its exit is handled. */
function ignoreSendError(): void {}

/**
 * The primary's side of cluster aggregation: workers hand their data over IPC
 * about every second; the primary merges each worker's hand-overs exactly,
 * exports them in its own payload, one per interval for the host, one
 * resource per process, and tells each worker once that payload has settled
 * (`acknowledge`), so a worker forgets only what the primary has delivered
 * or counted as dropped.
 */
export class ClusterHub {
  private readonly workers = new Map<number, WorkerState>()
  /** Workers that died without handing over, not yet taken by `drain`. */
  private lost: LostWorker[] = []

  constructor(private readonly logger: Logger, private readonly maxEndpoints: number) {}

  register(worker: Worker): void {
    const pid = worker.process.pid
    if (pid === undefined || this.workers.has(worker.id)) return
    const state: WorkerState = { worker, pid, aggregator: new Aggregator(this.maxEndpoints), names: [], seq: 0, lastHandOverMs: Date.now(), final: false, exited: false, waiters: [] }
    this.workers.set(worker.id, state)
    worker.process.on('internalMessage', (message: unknown) => {
      if (isAgentMessage(message)) this.onMessage(state, message)
    })
    worker.on('exit', (code, signal) => {
      state.exited = true
      if (!state.final && state.instanceId) {
        const seconds = Math.max(0, (Date.now() - state.lastHandOverMs) / 1000)
        this.lost.push({ workerId: worker.id, pid, seconds })
        this.logger.report('warn', 'AGENT_WORKER_LOST', worker.id, pid, signal ?? `code ${code}`, seconds)
      }
      for (const w of state.waiters.splice(0)) w()
    })
  }

  private onMessage(state: WorkerState, message: AgentMessage): void {
    if (message.type === 'hello') {
      state.instanceId = message.instanceId
      // A new link (the worker's agent started again) numbers its names afresh.
      state.names = []
      this.send(state, { cmd: AGENT_CMD, type: 'ack', instanceId: message.instanceId, ...(message.wire === WIRE_PACKED ? { wire: WIRE_PACKED } : {}) })
      return
    }
    if (message.type !== 'interval' && message.type !== 'packed') return
    state.instanceId = message.instanceId
    if (message.resource !== undefined) state.resource = message.resource
    if (message.runtime) state.runtime = message.runtime
    try {
      if (message.type === 'interval') state.aggregator.merge(message.interval)
      else this.mergePacked(state, message)
    } catch (err) {
      // Never into the app: a hand-over this agent cannot read (its sender is not this version) is said once.
      this.logger.reportOnce('hand-over-unreadable', 'warn', 'AGENT_TASK_FAILED', `reading worker ${state.worker.id}'s hand-over`, err instanceof UnreadableHandOver ? err.message : String(err))
    }
    if (message.seq > state.seq) state.seq = message.seq
    state.lastHandOverMs = Date.now()
    if (message.final) {
      state.final = true
      for (const w of state.waiters.splice(0)) w()
    }
  }

  private mergePacked(state: WorkerState, message: Extract<AgentMessage, { type: 'packed' }>): void {
    if (message.names !== undefined) {
      if (message.namesFrom === 0) state.names = []
      // Bounded by the worker, which starts a new table past MAX_NAMES.
      if (message.namesFrom !== state.names.length) throw new UnreadableHandOver('names out of step')
      for (const def of message.names) state.names.push(def)
    }
    unpackInterval(message, state.names, state.aggregator)
  }

  private send(state: WorkerState, message: AgentMessage): void {
    try {
      // With a callback, a failed write (EPIPE: a worker killed before its channel's close reached
      // this process) comes back here; without one, Node emits it as the worker's 'error' event,
      // which the app's primary may not listen to: an uncaught exception.
      if (state.worker.isConnected()) state.worker.process.send(message, ignoreSendError)
    } catch {
      // the worker is going away; its exit is handled
    }
  }

  /**
   * Takes every worker's merged hand-overs since the last call, the workers
   * lost meanwhile, and the marks to acknowledge once the payload holding
   * them has settled.
   */
  drain(): { processes: WorkerInterval[]; lost: LostWorker[]; marks: HandOverMarks } {
    const processes: WorkerInterval[] = []
    const marks: [WorkerState, number][] = []
    const lost = this.lost
    this.lost = []
    for (const [id, state] of this.workers) {
      if (state.resource) {
        const interval = state.aggregator.drainKeeping()
        if (interval.endpoints.length > 0 || state.runtime) processes.push({ resource: state.resource, interval, ...(state.runtime ? { runtime: state.runtime } : {}), ...(state.seq > 0 ? { handOverThrough: state.seq } : {}) })
        state.runtime = undefined
      }
      if (state.seq > 0) marks.push([state, state.seq])
      if (state.exited) this.workers.delete(id)
    }
    return { processes, lost, marks }
  }

  /** The payload with these hand-overs settled: each worker may forget them. */
  acknowledge(marks: HandOverMarks): void {
    for (const [state, seq] of marks) if (!state.exited) this.send(state, { cmd: AGENT_CMD, type: 'exported', seq })
  }

  /**
   * Asks every live worker for its last interval and waits until each has
   * answered or exited, or until the deadline.
   */
  async collectFinal(deadline: number): Promise<void> {
    const pending: Promise<void>[] = []
    for (const state of this.workers.values()) {
      if (state.exited || state.final || !state.instanceId) continue
      pending.push(new Promise<void>((resolve) => state.waiters.push(resolve)))
      this.send(state, { cmd: AGENT_CMD, type: 'flush' })
    }
    if (pending.length === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all(pending), new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))))])
    clearTimeout(timer)
  }

  get size(): number {
    return this.workers.size
  }
}
