import type { Server } from 'node:http'
import { Aggregator, type IntervalSnapshot } from './aggregator.js'
import { NameTable, packInterval, unpackInterval, unpackSnapshot, type NameDef, type PackedInterval } from './hand-over-wire.js'
import { AGENT_CMD, WIRE_PACKED, isAgentMessage, type AgentMessage } from './ipc-messages.js'
import type { Logger } from './logger.js'
import type { KeyValue } from './otlp-encoder.js'
import { kServerWatched } from './symbols.js'

/** An interval as a worker hands it over. */
export type WorkerInterval = Omit<Extract<AgentMessage, { type: 'interval' }>, 'cmd' | 'type' | 'final' | 'seq'>

type PackedMessage = Extract<AgentMessage, { type: 'packed' }>

/** Asked to hand its interval on when the primary wants the last one (implemented by `Agent`). */
export interface IntervalOwner {
  handOnInterval(final: boolean): void
}

/** A hand-over kept until the primary acknowledges it: hand-overs `from` through `through`. */
export interface UnacknowledgedHandOver {
  from: number
  through: number
  interval: IntervalSnapshot
}

/** As kept: packed (a tenth of the memory of a snapshot), read with the names it was packed with. */
interface KeptHandOver {
  from: number
  through: number
  names: readonly NameDef[]
  packed: PackedInterval
}

/**
 * Hand-overs kept for the primary's acknowledgement, which comes once per
 * report interval (60 s by default): two intervals of one a second. Past
 * it, or past MAX_KEPT_CHARS of packed data, the two oldest merge into one.
 */
const MAX_UNACKNOWLEDGED = 128
const MAX_KEPT_CHARS = 8_000_000
/** How long a worker at its exit waits to learn whether its primary died. */
const PRIMARY_DEATH_WAIT_MS = 100

/**
 * A cluster worker's side: says hello to the primary and, once an agent
 * there answers, hands its data over IPC instead of exporting it. Each
 * hand-over is kept until the primary says the payload holding it settled; if
 * the primary dies first, the worker exports what was not acknowledged
 * itself (`takeUnacknowledged`). A worker whose primary runs no agent (PM2's
 * daemon) never gets an answer and exports directly.
 */
export class WorkerLink {
  private linked = false
  /** The primary reads the packed form (an older agent there reads `interval` messages only). */
  private packedWire = false
  private seq = 0
  private unacknowledged: KeptHandOver[] = []
  /** The packed data of `unacknowledged`, in characters (bytes). */
  private keptChars = 0
  private names = new NameTable()
  /** The resource the primary has; sent again only when it changes. */
  private resourceSent: KeyValue[] | undefined
  /** The primary's pid: a worker whose parent changed has lost its primary. */
  private readonly primaryPid = process.ppid
  private readonly onInternal = (message: unknown) => {
    if (!isAgentMessage(message)) return
    if (message.type === 'ack' && message.instanceId === this.instanceId) {
      this.linked = true
      this.packedWire = message.wire === WIRE_PACKED
      this.logger.debug('cluster primary runs an agent: intervals go to it')
    } else if (message.type === 'flush' && this.usable) {
      this.owner.handOnInterval(true)
    } else if (message.type === 'exported') {
      const acknowledged = message.seq
      this.unacknowledged = this.unacknowledged.filter((k) => k.through > acknowledged)
      this.keptChars = 0
      for (const k of this.unacknowledged) this.keptChars += k.packed.data.length
    }
  }

  constructor(private readonly instanceId: string, private readonly owner: IntervalOwner, private readonly logger: Logger) {}

  start(): void {
    if (typeof process.send !== 'function') return
    process.on('internalMessage', this.onInternal)
    void this.post({ cmd: AGENT_CMD, type: 'hello', instanceId: this.instanceId, wire: WIRE_PACKED })
  }

  stop(): void {
    process.removeListener('internalMessage', this.onInternal)
  }

  /** Linked to a primary's agent, and the channel to it is open. */
  get usable(): boolean {
    return this.linked && process.connected === true
  }

  /**
   * Sends the data to the primary and keeps it until acknowledged; resolves
   * once written, false if it could not be. Names and the resource go once;
   * after a failed write, again.
   */
  handOver(final: boolean, data: WorkerInterval): Promise<boolean> {
    if (!this.usable) return Promise.resolve(false)
    const seq = ++this.seq
    if (this.names.full) this.names = new NameTable()
    const names = this.names
    const packed = packInterval(data.interval, names)
    this.keep({ from: seq, through: seq, names: names.list, packed })
    if (!this.packedWire) return this.post({ cmd: AGENT_CMD, type: 'interval', seq, final, ...data })
    const message: PackedMessage = { cmd: AGENT_CMD, type: 'packed', seq, final, instanceId: data.instanceId, ...packed }
    if (data.resource !== this.resourceSent) message.resource = data.resource
    if (names.sent < names.list.length) {
      message.namesFrom = names.sent
      message.names = names.list.slice(names.sent)
    }
    if (data.runtime !== undefined) message.runtime = data.runtime
    names.sent = names.list.length
    this.resourceSent = data.resource
    return this.post(message).then((written) => {
      if (!written) {
        this.names.sent = 0
        this.resourceSent = undefined
      }
      return written
    })
  }

  private keep(handOver: KeptHandOver): void {
    this.unacknowledged.push(handOver)
    this.keptChars += handOver.packed.data.length
    if (this.unacknowledged.length <= MAX_UNACKNOWLEDGED && (this.keptChars <= MAX_KEPT_CHARS || this.unacknowledged.length < 3)) return
    // Bounded: the two oldest become one, numbered by both, with names of its own.
    const [a, b] = this.unacknowledged.splice(0, 2) as [KeptHandOver, KeptHandOver]
    const merged = new Aggregator(Number.MAX_SAFE_INTEGER, a.packed.startMs)
    unpackInterval(a.packed, a.names, merged)
    unpackInterval(b.packed, b.names, merged)
    const names = new NameTable()
    const both: KeptHandOver = { from: a.from, through: b.through, names: names.list, packed: packInterval(merged.drain(b.packed.endMs), names) }
    this.unacknowledged.unshift(both)
    this.keptChars += both.packed.data.length - a.packed.data.length - b.packed.data.length
  }

  /**
   * At this worker's exit: what it handed over and the primary never
   * acknowledged, if the primary died (its pid is no longer this process's
   * parent). A primary that lives still delivers it: nothing is taken then.
   * At exit (`atExit`), waits up to PRIMARY_DEATH_WAIT_MS for the kernel to
   * reparent this process, which can follow the closed channel by a moment;
   * otherwise the next interval asks again.
   */
  takeUnacknowledged(atExit: boolean): UnacknowledgedHandOver[] {
    if (this.unacknowledged.length === 0 || process.connected === true) return []
    const deadline = Date.now() + (atExit ? PRIMARY_DEATH_WAIT_MS : 0)
    const pause = new Int32Array(new SharedArrayBuffer(4))
    while (process.ppid === this.primaryPid && Date.now() < deadline) Atomics.wait(pause, 0, 0, 5)
    if (process.ppid === this.primaryPid) return []
    const kept = this.unacknowledged
    this.unacknowledged = []
    this.keptChars = 0
    const out: UnacknowledgedHandOver[] = []
    for (const k of kept) {
      try {
        out.push({ from: k.from, through: k.through, interval: unpackSnapshot(k.packed, k.names) })
      } catch (err) {
        // It packed them itself: only a bug gets here, and it must not reach the app's exit.
        this.logger.reportOnce('hand-over-unreadable', 'warn', 'AGENT_TASK_FAILED', 'reading a kept hand-over', String(err))
      }
    }
    return out
  }

  private post(message: AgentMessage): Promise<boolean> {
    return new Promise((resolve) => {
      try {
        process.send!(message, undefined, { swallowErrors: true } as never, (err: Error | null) => resolve(!err))
      } catch {
        resolve(false)
      }
    })
  }

  /**
   * A worker told to disconnect closes its servers, then its IPC channel:
   * the last server's 'close' is the last moment to hand over.
   */
  watchServer(server: Server): void {
    const s = server as Server & { [kServerWatched]?: boolean }
    if (s[kServerWatched]) return
    s[kServerWatched] = true
    server.once('close', () => {
      if (this.usable) this.owner.handOnInterval(true)
    })
  }
}
