import type { IntervalSnapshot } from './aggregator.js'
import type { KeyValue } from './otlp-encoder.js'
import type { RuntimeSnapshot } from './runtime-metrics.js'

/**
 * The agent's messages on the cluster IPC channel. Node delivers messages
 * whose `cmd` starts with "NODE_" as 'internalMessage', never as 'message', so
 * the app's own handlers (and PM2's) never see them and cannot break on them.
 */
export const AGENT_CMD = 'NODE_AGENT'

export type AgentMessage =
  | { cmd: typeof AGENT_CMD; type: 'hello'; instanceId: string }
  | { cmd: typeof AGENT_CMD; type: 'ack'; instanceId: string }
  | { cmd: typeof AGENT_CMD; type: 'flush' }
  | {
      cmd: typeof AGENT_CMD
      type: 'interval'
      instanceId: string
      resource: KeyValue[]
      interval: IntervalSnapshot
      runtime: RuntimeSnapshot
      final: boolean
    }

export function isAgentMessage(message: unknown): message is AgentMessage {
  return typeof message === 'object' && message !== null && (message as { cmd?: unknown }).cmd === AGENT_CMD
}
