import type { Worker } from 'node:cluster'
import { Aggregator, type IntervalSnapshot } from './aggregator.js'
import { AGENT_CMD, isAgentMessage, type AgentMessage } from './ipc-messages.js'
import type { Logger } from './logger.js'
import type { KeyValue } from './otlp-encoder.js'
import type { RuntimeSnapshot } from './runtime-metrics.js'

interface WorkerState {
  worker: Worker
  pid: number
  instanceId?: string
  resource?: KeyValue[]
  aggregator: Aggregator
  runtime?: RuntimeSnapshot
  /** It handed over its last interval (graceful exit). */
  final: boolean
  exited: boolean
  waiters: (() => void)[]
}

export interface WorkerInterval {
  resource: KeyValue[]
  interval: IntervalSnapshot
  runtime?: RuntimeSnapshot
}

/**
 * The primary's side of cluster aggregation: workers hand each interval over
 * IPC; the primary merges each worker's intervals exactly and exports them in
 * its own payload, one per interval for the host, one resource per process.
 */
export class ClusterHub {
  private readonly workers = new Map<number, WorkerState>()
  /** Workers that died without handing over their last interval, not yet taken by `drain`. */
  private lostIntervals = 0

  constructor(private readonly logger: Logger, private readonly maxEndpoints: number) {}

  register(worker: Worker): void {
    const pid = worker.process.pid
    if (pid === undefined || this.workers.has(worker.id)) return
    const state: WorkerState = { worker, pid, aggregator: new Aggregator(this.maxEndpoints), final: false, exited: false, waiters: [] }
    this.workers.set(worker.id, state)
    worker.process.on('internalMessage', (message: unknown) => {
      if (isAgentMessage(message)) this.onMessage(state, message)
    })
    worker.on('exit', (code, signal) => {
      state.exited = true
      if (!state.final && state.instanceId) {
        this.lostIntervals++
        this.logger.report('warn', 'AGENT_WORKER_LOST', worker.id, pid, signal ?? `code ${code}`)
      }
      for (const w of state.waiters.splice(0)) w()
    })
  }

  private onMessage(state: WorkerState, message: AgentMessage): void {
    if (message.type === 'hello') {
      state.instanceId = message.instanceId
      this.send(state, { cmd: AGENT_CMD, type: 'ack', instanceId: message.instanceId })
      return
    }
    if (message.type !== 'interval') return
    state.instanceId = message.instanceId
    state.resource = message.resource
    state.runtime = message.runtime
    state.aggregator.merge(message.interval)
    if (message.final) {
      state.final = true
      for (const w of state.waiters.splice(0)) w()
    }
  }

  private send(state: WorkerState, message: AgentMessage): void {
    try {
      if (state.worker.isConnected()) state.worker.process.send(message)
    } catch {
      // the worker is going away; its exit is handled
    }
  }

  /** Takes every worker's merged intervals since the last call, and how many intervals were lost meanwhile. */
  drain(): { processes: WorkerInterval[]; lostIntervals: number } {
    const processes: WorkerInterval[] = []
    const lostIntervals = this.lostIntervals
    this.lostIntervals = 0
    for (const [id, state] of this.workers) {
      if (state.resource) {
        const interval = state.aggregator.drain()
        if (interval.endpoints.length > 0 || state.runtime) processes.push({ resource: state.resource, interval, ...(state.runtime ? { runtime: state.runtime } : {}) })
        state.runtime = undefined
      }
      if (state.exited) this.workers.delete(id)
    }
    return { processes, lostIntervals }
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
