import type { Server } from 'node:http'
import { AGENT_CMD, isAgentMessage, type AgentMessage } from './ipc-messages.js'

export interface WorkerLinkHooks {
  instanceId(): string
  /** Takes the agent's interval and sends it (see Agent.takeInterval). */
  takeInterval(): Omit<Extract<AgentMessage, { type: 'interval' }>, 'cmd' | 'type' | 'final'>
  onLinked(): void
}

/**
 * A cluster worker's side: says hello to the primary and, once an agent
 * there answers, hands each interval over IPC instead of exporting it. A
 * worker whose primary runs no agent (PM2's daemon) never gets an answer and
 * exports directly.
 */
export class WorkerLink {
  linked = false
  private readonly onInternal = (message: unknown) => {
    if (!isAgentMessage(message)) return
    if (message.type === 'ack' && message.instanceId === this.hooks.instanceId()) {
      this.linked = true
      this.hooks.onLinked()
    } else if (message.type === 'flush') {
      this.handOver(true)
    }
  }

  constructor(private readonly hooks: WorkerLinkHooks) {}

  start(): void {
    if (typeof process.send !== 'function') return
    process.on('internalMessage', this.onInternal)
    this.post({ cmd: AGENT_CMD, type: 'hello', instanceId: this.hooks.instanceId() })
  }

  stop(): void {
    process.removeListener('internalMessage', this.onInternal)
  }

  get usable(): boolean {
    return this.linked && process.connected === true
  }

  /** Sends the interval to the primary; resolves once written. False if it could not be. */
  handOver(final: boolean): Promise<boolean> {
    if (!this.usable) return Promise.resolve(false)
    const data = this.hooks.takeInterval()
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
    const s = server as Server & { [kWatched]?: boolean }
    if (s[kWatched]) return
    s[kWatched] = true
    server.once('close', () => {
      if (this.linked) void this.handOver(true)
    })
  }
}

const kWatched = Symbol('@agent/core.worker-server-watched')
