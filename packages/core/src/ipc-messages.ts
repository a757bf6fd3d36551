import type { IntervalSnapshot } from './aggregator.js'
import type { KeyValue } from './otlp-encoder.js'
import type { RuntimeSnapshot } from './runtime-metrics.js'

/**
 * The agent's messages on the cluster IPC channel. Node delivers messages
 * whose `cmd` starts with "NODE_" as 'internalMessage', never as 'message', so
 * the app's own handlers (and PM2's) never see them and cannot break on them.
 *
 * hello (worker) -> ack (primary): the primary runs an agent; the worker hands over from now on.
 * interval (worker, `seq` rising) -> exported (primary, up to `seq`): the primary's export of
 *   that data is settled (delivered, or dropped and counted), so the worker may forget it.
 * flush (primary): hand over the last interval now (`final`).
 */
export const AGENT_CMD = 'NODE_AGENT'

export type AgentMessage =
  | { cmd: typeof AGENT_CMD; type: 'hello'; instanceId: string }
  | { cmd: typeof AGENT_CMD; type: 'ack'; instanceId: string }
  | { cmd: typeof AGENT_CMD; type: 'flush' }
  | { cmd: typeof AGENT_CMD; type: 'exported'; seq: number }
  | {
      cmd: typeof AGENT_CMD
      type: 'interval'
      seq: number
      instanceId: string
      resource: KeyValue[]
      interval: IntervalSnapshot
      /** Only with the hand-overs at the report interval: runtime metrics cover a whole interval. */
      runtime?: RuntimeSnapshot
      final: boolean
    }

export function isAgentMessage(message: unknown): message is AgentMessage {
  return typeof message === 'object' && message !== null && (message as { cmd?: unknown }).cmd === AGENT_CMD
}
