import dc from 'node:diagnostics_channel'
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
 * - Every version: one `onRoute` hook (kept in Fastify's hook list, which no
 *   public API lists, and added directly, not through `after()`) that reads
 *   each route into a `RouteTable`.
 * - Fastify 5: its `tracing:fastify.request.handler` channel names each
 *   request that reaches its handler (template and params) and gives the
 *   handler's errors, sync and async, before the app's error handler runs.
 *   Requests a hook answered first are named from the table at their end.
 * - Fastify 4 publishes no per-request channel: each request is named from the
 *   table at its start (Node's `http.server.request.start` channel), and
 *   errors are noted by `send` of Fastify's shared `Reply.prototype`, the one
 *   place every error passes on its way to the error handler.
 */

const HANDLER_START = 'tracing:fastify.request.handler:start'
const HANDLER_ERROR = 'tracing:fastify.request.handler:error'
const REQUEST_START = 'http.server.request.start'

type Instance = FastifyInstance & { initialConfig?: Record<string, unknown> }

interface HandlerMessage {
  request?: { raw?: IncomingMessage; params?: unknown }
  route?: { url?: string }
  error?: unknown
}

function onHandlerStart(message: unknown): void {
  try {
    const { request, route } = message as HandlerMessage
    if (request?.raw && typeof route?.url === 'string') nameRequest(request.raw, route.url, request.params as Record<string, unknown> | undefined)
  } catch {
    // never into the app
  }
}

function onHandlerError(message: unknown): void {
  try {
    const { request, error } = message as HandlerMessage
    if (request?.raw) noteError(request.raw, error)
  } catch {
    // never into the app
  }
}

function onRequestStart(message: unknown): void {
  try {
    const { request, server } = message as { request: IncomingMessage; server?: object }
    const table = server && state.tables.get(server)
    if (table === undefined) return
    const found = table.match(request)
    if (found !== undefined) nameRequest(request, found.route, found.params)
  } catch {
    // never into the app
  }
}

/** For a request nothing named while it ran: the route its server's table matches. */
export function routeOfRequest(req: object): string | undefined {
  const raw = req as IncomingMessage & { socket?: { server?: object } }
  const server = raw.socket?.server
  const table = server && state.tables.get(server)
  return table?.match(raw)?.route
}

function majorOf(instance: Instance): number {
  return Number.parseInt(String(instance.version ?? ''), 10)
}

/**
 * Fastify 4: errors, sync or async, pass through `reply.send(error)` before
 * the error handler. `Reply.prototype` is shared by every instance of one
 * Fastify copy (found through the instance's own Reply class), so it is
 * wrapped once; the wrapper only notes the error and calls the original.
 */
function noteErrorsOnSend(instance: Instance): void {
  const sym = Object.getOwnPropertySymbols(instance).find((s) => s.description === 'fastify.Reply')
  const Reply = sym ? (instance as unknown as Record<symbol, { prototype?: object } | undefined>)[sym] : undefined
  let proto = Reply?.prototype as Record<string, unknown> | null | undefined
  while (proto && !Object.prototype.hasOwnProperty.call(proto, 'send')) proto = Object.getPrototypeOf(proto) as Record<string, unknown> | null
  if (!proto || state.replies.has(proto) || typeof proto.send !== 'function') return
  const original = proto.send as (this: unknown, payload?: unknown) => unknown
  /** Fastify's own `kReplyIsError`, found on the first reply (null: this Fastify has none). */
  let isError: symbol | null | undefined
  state.replies.add(proto)
  proto.send = function send(this: { request?: { raw?: object } } & Record<symbol, unknown>, payload?: unknown) {
    try {
      if (isError === undefined) isError = Object.getOwnPropertySymbols(this).find((s) => s.description === 'fastify.reply.isError') ?? null
      if (payload instanceof Error || (isError !== null && this[isError] === true)) {
        const raw = this.request?.raw
        if (raw) noteError(raw, payload)
      }
    } catch {
      // never into the app
    }
    return Reflect.apply(original, this, arguments)
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
    const major = majorOf(instance)
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
    if (major >= 5) {
      if (!state.handlerChannel) {
        state.handlerChannel = true
        dc.subscribe(HANDLER_START, onHandlerStart)
        dc.subscribe(HANDLER_ERROR, onHandlerError)
      }
    } else {
      noteErrorsOnSend(instance)
      if (!state.startChannel) {
        state.startChannel = true
        dc.subscribe(REQUEST_START, onRequestStart)
      }
    }
    return true
  } catch {
    return false
  }
}
