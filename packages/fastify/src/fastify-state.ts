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
  /** Fastify 4's `Reply.prototype` objects whose `send` notes errors. */
  replies: WeakSet<object>
  /** Subscribed to `tracing:fastify.request.handler` (Fastify 5). */
  handlerChannel: boolean
  /** Subscribed to `http.server.request.start` (Fastify 4 names requests there). */
  startChannel: boolean
}

const g = globalThis as { [kState]?: FastifyState }

export const state: FastifyState = (g[kState] ??= {
  instances: new WeakSet(),
  tables: new WeakMap(),
  replies: new WeakSet(),
  handlerChannel: false,
  startChannel: false,
})
