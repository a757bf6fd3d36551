import type { IncomingMessage } from 'node:http'
import { nameRequest, noteError } from '@agent/core/internal'
// Fastify is imported as types only: the app's own copy is instrumented.
import type { FastifyInstance } from 'fastify'
import { state } from './fastify-state.js'
import { RouteTable, type RouteSeen } from './route-table.js'

/**
 * How the agent meets a Fastify app without the app seeing it: no hook that
 * `printRoutes({ includeHooks: true })` lists, no plugin node that
 * `printPlugins()` shows, `routeOptions` read and never written.
 *
 * - One `onRoute` hook (kept in Fastify's hook list, which no public API
 *   lists, and added directly, not through `after()`) reads each route into a
 *   `RouteTable`, which names at their end the requests nothing named (a
 *   hijacked reply, a request that never got an answer).
 * - `send` of Fastify's shared `Reply.prototype` (see `observeReplies`) names
 *   each request and notes its error. Not Fastify 5's
 *   `tracing:fastify.request.handler` channel: with a subscriber, Fastify
 *   builds a store object, a closure and an argument list for every request
 *   and publishes up to four messages (measured: the agent's allocation per
 *   Fastify request +660 bytes with it, +181 with this wrapper, which
 *   allocates nothing).
 */

type Instance = FastifyInstance & { initialConfig?: Record<string, unknown> }

/** The route a request matches in its server's table, if the table has it. */
function matchOf(req: object): ReturnType<RouteTable['match']> {
  const raw = req as IncomingMessage & { socket?: { server?: object } }
  const server = raw.socket?.server
  const table = server && state.tables.get(server)
  return table?.match(raw)
}

/** For a request nothing named while it ran: the route its server's table matches. */
export function routeOfRequest(req: object): string | undefined {
  return matchOf(req)?.route
}

/** For a request kept as an error or a trace: its params (Fastify keeps them off the raw request), for redaction. */
export function paramsOfRequest(req: object): Record<string, unknown> | undefined {
  return matchOf(req)?.params
}

/** A symbol of Fastify's, by its description, on one of its objects. */
function symbolOf(target: object, description: string): symbol | null {
  return Object.getOwnPropertySymbols(target).find((s) => s.description === description) ?? null
}

interface ReplyLike {
  request?: { raw?: object; params?: unknown } & Record<symbol, { config?: { url?: unknown } } | undefined>
  [key: symbol]: unknown
}

/**
 * Every answer passes through `reply.send`: the handler's value (sync or
 * async), a hook's reply, and an error on its way to the error handler
 * (`send(error)`, or a payload Fastify marked as an error). `Reply.prototype`
 * is shared by every instance of one Fastify copy (found through the
 * instance's own Reply class), so it is wrapped once; the wrapper names the
 * request by its route's template (Fastify's route context, `config.url`;
 * the not-found handler's has none), notes an error, and calls the original.
 * Errors are made before they reach it, so no stack holds an agent frame.
 */
function observeReplies(instance: Instance): void {
  const replySymbol = symbolOf(instance, 'fastify.Reply')
  const Reply = replySymbol !== null ? (instance as unknown as Record<symbol, { prototype?: object } | undefined>)[replySymbol] : undefined
  let proto = Reply?.prototype as Record<string, unknown> | null | undefined
  while (proto && !Object.prototype.hasOwnProperty.call(proto, 'send')) proto = Object.getPrototypeOf(proto) as Record<string, unknown> | null
  if (!proto || state.replies.has(proto) || typeof proto.send !== 'function') return
  const original = proto.send as (this: unknown, payload?: unknown) => unknown
  // Fastify's own symbols, found on the first reply and its request (null: this Fastify has none).
  let routeContext: symbol | null | undefined
  let isError: symbol | null | undefined
  const observe = (reply: ReplyLike, payload: unknown) => {
    const request = reply.request
    const raw = request?.raw
    if (request === undefined || raw === undefined) return
    if (routeContext === undefined) {
      routeContext = symbolOf(request, 'fastify.context')
      isError = symbolOf(reply, 'fastify.reply.isError')
    }
    const url = routeContext !== null ? request[routeContext]?.config?.url : undefined
    if (typeof url === 'string') nameRequest(raw, url)
    if (payload instanceof Error || (isError !== null && reply[isError!] === true)) noteError(raw, payload)
  }
  state.replies.add(proto)
  proto.send = function send(this: ReplyLike, payload?: unknown) {
    try {
      observe(this, payload)
    } catch {
      // never into the app
    }
    // `send(payload)` takes one argument (Fastify 4 and 5). Not `arguments`: a function that reads it
    // makes the object on every call until it is optimized (measured on Node 24: 35 bytes per request).
    return original.call(this, payload)
  }
}

/**
 * Reads a Fastify instance's routes from now on and names its requests.
 * `routesBefore`: the app may have added routes already (the plugin, and
 * `instrument(app)`), read once from `printRoutes()`; the register preload
 * meets each instance at its creation, before any route.
 * Idempotent; never throws; the instance gets nothing the app can list.
 */
export function instrumentInstance(app: unknown, routesBefore = false): boolean {
  const instance = app as Instance
  if (typeof instance !== 'object' || instance === null || typeof instance.addHook !== 'function') return false
  if (state.instances.has(instance)) return true
  state.instances.add(instance)
  try {
    const server = instance.server as object | undefined
    let table = server ? state.tables.get(server) : undefined
    if (server && !table) {
      table = RouteTable.for(String(instance.version), instance.initialConfig)
      if (table) state.tables.set(server, table)
    }
    if (table) {
      const routes = table
      if (routesBefore) routes.addPrinted(String(instance.printRoutes()))
      instance.addHook('onRoute', function onRoute(route) {
        try {
          routes.add(route as unknown as RouteSeen)
        } catch {
          // that route goes unnamed
        }
      })
    }
    observeReplies(instance)
    return true
  } catch {
    return false
  }
}
