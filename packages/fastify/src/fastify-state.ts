import { kState } from './symbols.js'
import type { RouteTable } from './route-table.js'

/**
 * What the agent knows about the app's Fastify instances, kept off them: an
 * app that lists its instance's own properties or symbols sees nothing of ours.
 */
export interface FastifyState {
  /** Instances whose routes the agent reads (root and children). */
  instances: WeakSet<object>
  /** The route table of each Fastify server, by its HTTP server. */
  tables: WeakMap<object, RouteTable>
  /** The `Reply.prototype` objects whose `send` names requests and notes errors (one per Fastify copy). */
  replies: WeakSet<object>
}

const g = globalThis as { [kState]?: FastifyState }

export const state: FastifyState = (g[kState] ??= {
  instances: new WeakSet(),
  tables: new WeakMap(),
  replies: new WeakSet(),
})
