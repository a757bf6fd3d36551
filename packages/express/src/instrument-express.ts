import { getAgent, normalizePath, recordOf } from '@agent/core'
import { joinRoute, routePathName } from './route-name.js'

// Express is imported as types only: the app's own copy is instrumented.
interface ExpressRouter {
  stack?: { constructor: Function }[]
  handle: (req: unknown, res: unknown, out: (err?: unknown) => void) => unknown
}
export interface ExpressApp {
  (req: unknown, res: unknown, next?: unknown): void
  request: object
  _router?: ExpressRouter
  router?: ExpressRouter
  lazyrouter?: () => void
}

const kApp = Symbol.for('@agent/express.app')
const kRouterDone = Symbol.for('@agent/express.router')
const kRequestProto = Symbol.for('@agent/express.request-proto')
const kLayer = Symbol.for('@agent/express.layer')
const kRouteValue = Symbol('@agent/express.route')

type Req = { baseUrl?: string; params?: Record<string, unknown>; route?: { path?: unknown }; app?: ExpressApp; [kRouteValue]?: unknown }

function noteError(req: object, err: unknown): void {
  // 'route' and 'router' are Express routing signals, not errors.
  if (err === undefined || err === null || err === 'route' || err === 'router') return
  getAgent()?.noteError(req, err)
}

/**
 * Express assigns `req.route` when a route matches, while `req.baseUrl` is
 * still the mount path of the router that owns it. An accessor on Express's
 * shared request prototype records the template at that moment: no wrapper
 * per request, nothing allocated but the name.
 */
function instrumentRequestPrototype(app: ExpressApp): void {
  const base = Object.getPrototypeOf(app.request) as Record<symbol, unknown> | null
  if (!base || base[kRequestProto]) return
  const existing = Object.getOwnPropertyDescriptor(base, 'route')
  if (existing && (existing.get || existing.set || existing.configurable === false)) return
  Object.defineProperty(base, kRequestProto, { value: true })
  Object.defineProperty(base, 'route', {
    configurable: true,
    enumerable: true,
    get(this: Req) {
      return this[kRouteValue]
    },
    set(this: Req, route: { path?: unknown } | undefined) {
      this[kRouteValue] = route
      if (route === undefined || route === null) return
      const record = recordOf(this)
      if (record !== undefined) {
        record.route = joinRoute(this.baseUrl ?? '', routePathName(route.path), normalizePath)
        record.routed = true
        // Express restores req.params on the way out; keep the route's own for redaction.
        record.params = this.params
      }
    },
  })
}

/** Errors that reach an error-handling middleware of the app: seen once, first. */
function instrumentLayer(router: ExpressRouter): void {
  const Layer = router.stack?.[0]?.constructor as { prototype: Record<string | symbol, unknown> } | undefined
  if (!Layer || Layer.prototype[kLayer]) return
  const name = typeof Layer.prototype.handleError === 'function' ? 'handleError' : typeof Layer.prototype.handle_error === 'function' ? 'handle_error' : undefined
  if (!name) return
  const original = Layer.prototype[name] as (this: unknown, error: unknown, req: object, res: unknown, next: unknown) => unknown
  Object.defineProperty(Layer.prototype, kLayer, { value: true })
  Layer.prototype[name] = function agentHandleError(this: unknown, error: unknown, req: object, res: unknown, next: unknown) {
    noteError(req, error)
    return original.call(this, error, req, res, next)
  }
}

/** Errors no error middleware handled, on their way to Express's final handler. */
function instrumentRouter(router: ExpressRouter): void {
  const r = router as ExpressRouter & { [kRouterDone]?: boolean }
  if (r[kRouterDone]) return
  r[kRouterDone] = true
  const handle = router.handle
  router.handle = function agentRouterHandle(this: unknown, req: unknown, res: unknown, out: (err?: unknown) => void) {
    if (typeof out !== 'function') return handle.call(this, req, res, out)
    return handle.call(this, req, res, function agentFinal(this: unknown, err?: unknown) {
      noteError(req as object, err)
      return out.apply(this, arguments as unknown as [unknown])
    })
  }
}

function routerOf(app: ExpressApp): ExpressRouter | undefined {
  try {
    if ('_router' in app || typeof app.lazyrouter === 'function') {
      app.lazyrouter?.() // Express 4 creates its router lazily
      return app._router
    }
    return app.router // Express 5: a getter that creates it
  } catch {
    return undefined
  }
}

/**
 * Instruments one Express app for route templates and errors. Idempotent and
 * never throws: on an unknown Express shape it does nothing, and requests are
 * still measured with normalized URLs.
 */
export function instrumentApp(app: ExpressApp | undefined): boolean {
  if (typeof app !== 'function' || typeof app.request !== 'object') return false
  const a = app as ExpressApp & { [kApp]?: 'partial' | 'done' }
  if (a[kApp] === 'done') return true
  try {
    instrumentRequestPrototype(app)
    const router = routerOf(app)
    if (router) {
      instrumentRouter(router)
      instrumentLayer(router)
    }
    // Express 5's router has no layers until the app adds one: try again later.
    a[kApp] = router?.stack?.length ? 'done' : 'partial'
    return true
  } catch {
    return false
  }
}

/** For a request Express handled before its app was instrumented. */
export function routeFromRequest(req: Req): string | undefined {
  const route = req.route
  if (!route) return undefined
  return joinRoute(req.baseUrl ?? '', routePathName(route.path), normalizePath)
}
