import type { Server } from 'node:http'
import { AGENT_CMD, isAgentMessage, type AgentMessage } from './ipc-messages.js'
import type { Logger } from './logger.js'
import { kServerWatched } from './symbols.js'

/** An interval as a worker hands it over. */
export type WorkerInterval = Omit<Extract<AgentMessage, { type: 'interval' }>, 'cmd' | 'type' | 'final'>

/** Asked to hand its interval on when the primary wants the last one (implemented by `Agent`). */
export interface IntervalOwner {
  handOnInterval(final: boolean): void
}

/**
 * A cluster worker's side: says hello to the primary and, once an agent
 * there answers, hands each interval over IPC instead of exporting it. A
 * worker whose primary runs no agent (PM2's daemon) never gets an answer and
 * exports directly.
 */
export class WorkerLink {
  private linked = false
  private readonly onInternal = (message: unknown) => {
    if (!isAgentMessage(message)) return
    if (message.type === 'ack' && message.instanceId === this.instanceId) {
      this.linked = true
      this.logger.debug('cluster primary runs an agent: intervals go to it')
    } else if (message.type === 'flush' && this.usable) {
      this.owner.handOnInterval(true)
    }
  }

  constructor(private readonly instanceId: string, private readonly owner: IntervalOwner, private readonly logger: Logger) {}

  start(): void {
    if (typeof process.send !== 'function') return
    process.on('internalMessage', this.onInternal)
    void this.post({ cmd: AGENT_CMD, type: 'hello', instanceId: this.instanceId })
  }

  stop(): void {
    process.removeListener('internalMessage', this.onInternal)
  }

  /** Linked to a primary's agent, and the channel to it is open. */
  get usable(): boolean {
    return this.linked && process.connected === true
  }

  /** Sends the interval to the primary; resolves once written, false if it could not be. */
  handOver(final: boolean, data: WorkerInterval): Promise<boolean> {
    if (!this.usable) return Promise.resolve(false)
    return this.post({ cmd: AGENT_CMD, type: 'interval', final, ...data })
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
