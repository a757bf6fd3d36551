import type { IntervalSnapshot } from './aggregator.js'
import type { NameDef, PackedInterval } from './hand-over-wire.js'
import type { KeyValue } from './otlp-encoder.js'
import type { RuntimeSnapshot } from './runtime-metrics.js'

/**
 * The agent's messages on the cluster IPC channel. Node delivers messages
 * whose `cmd` starts with "NODE_" as 'internalMessage', never as 'message', so
 * the app's own handlers (and PM2's) never see them and cannot break on them.
 *
 * hello (worker, the wire forms it reads) -> ack (primary, the form both speak):
 *   the primary runs an agent; the worker hands over from now on.
 * packed (worker, `seq` rising) -> exported (primary, up to `seq`): the primary's export of
 *   that data is settled (delivered, or dropped and counted), so the worker may forget it.
 * interval: the same as `packed`, as agents before the packed form sent it, and as
 *   a worker sends it to a primary whose ack names no wire form (an older agent).
 * flush (primary): hand over the last interval now (`final`).
 */
export const AGENT_CMD = 'NODE_AGENT'

/** The packed hand-over (hand-over-wire.ts); a new form gets a new number, and hello and ack agree on one. */
export const WIRE_PACKED = 1

export type AgentMessage =
  | { cmd: typeof AGENT_CMD; type: 'hello'; instanceId: string; wire?: number }
  | { cmd: typeof AGENT_CMD; type: 'ack'; instanceId: string; wire?: number }
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
  | (PackedInterval & {
      cmd: typeof AGENT_CMD
      type: 'packed'
      seq: number
      instanceId: string
      /** Only when it changed since the last hand-over the primary got (the first one included). */
      resource?: KeyValue[]
      /** Names first used here, numbered from `namesFrom` (0: the primary forgets the names it had). */
      namesFrom?: number
      names?: NameDef[]
      runtime?: RuntimeSnapshot
      final: boolean
    })

export function isAgentMessage(message: unknown): message is AgentMessage {
  return typeof message === 'object' && message !== null && (message as { cmd?: unknown }).cmd === AGENT_CMD
}
