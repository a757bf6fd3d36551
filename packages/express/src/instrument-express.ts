import { joinRoute, nameRequest, noteError as noteRequestError, routePathName } from '@agent/core/internal'
import { kApp, kLayer, kRoute, kRouterDone } from './symbols.js'

// Express is imported as types only: the app's own copy is instrumented.
interface ExpressRouter {
  stack?: { constructor: Function; route?: object; handle?: unknown }[]
  handle: (req: unknown, res: unknown, out: (err?: unknown) => void) => unknown
}
export interface ExpressApp {
  (req: unknown, res: unknown, next?: unknown): void
  request: object
  _router?: ExpressRouter
  router?: ExpressRouter
  lazyrouter?: () => void
}

type Req = { baseUrl?: string; params?: Record<string, unknown>; route?: { path?: unknown }; app?: ExpressApp }

function noteError(req: object, err: unknown): void {
  // 'route' and 'router' are Express routing signals, not errors.
  if (err === undefined || err === null || err === 'route' || err === 'router') return
  noteRequestError(req, err)
}

/**
 * A route's dispatch runs while `req.baseUrl` is still the mount path of the
 * router that owns it: the moment to read the template. Route's prototype is
 * shared by every router of one Express copy, so it is wrapped once; nothing is
 * added to the request and nothing allocated but the name.
 */
function instrumentRoute(router: ExpressRouter): boolean {
  const Route = findRoute(router, 0)?.constructor as { prototype: Record<string | symbol, unknown> } | undefined
  if (!Route) return false
  if (Route.prototype[kRoute]) return true
  const dispatch = Route.prototype.dispatch as ((this: { path?: unknown }, req: Req, res: unknown, done: unknown) => unknown) | undefined
  if (typeof dispatch !== 'function') return false
  Object.defineProperty(Route.prototype, kRoute, { value: true })
  const agentDispatch = (Route.prototype.dispatch = function agentDispatch(this: { path?: unknown }, req: Req, res: unknown, done: unknown) {
    // Only the template: req.params is read off the URL and the template at the end, if ever needed.
    nameRequest(req, joinRoute(req.baseUrl ?? '', routePathName(this.path)))
    return dispatch.call(this, req, res, done)
  })
  rebindRoutes(router, agentDispatch, `bound ${dispatch.name}`, 0)
  return true
}

/** Express 4 binds each route's dispatch when the route is made: rebind the existing ones. */
function rebindRoutes(router: ExpressRouter | undefined, dispatch: Function, boundName: string, depth: number): void {
  if (!router?.stack || depth > 4) return
  for (const layer of router.stack as { route?: object; handle?: ExpressRouter & Function }[]) {
    if (layer.route && typeof layer.handle === 'function' && layer.handle.name === boundName) {
      ;(layer as { handle: unknown }).handle = dispatch.bind(layer.route)
    } else {
      rebindRoutes(layer.handle, dispatch, boundName, depth + 1)
    }
  }
}

/** Any route of the app, looking into mounted routers (bounded depth). */
function findRoute(router: ExpressRouter | undefined, depth: number): object | undefined {
  if (!router?.stack || depth > 4) return undefined
  for (const layer of router.stack as { route?: object; handle?: ExpressRouter }[]) {
    if (layer.route) return layer.route
    const nested = findRoute(layer.handle, depth + 1)
    if (nested) return nested
  }
  return undefined
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
    const router = routerOf(app)
    if (router) {
      instrumentRouter(router)
      instrumentLayer(router)
    }
    // Until the app has a route there is no Route class to reach: try again later.
    a[kApp] = router && instrumentRoute(router) ? 'done' : 'partial'
    return true
  } catch {
    return false
  }
}

/** For a request Express handled before its app was instrumented. */
export function routeFromRequest(req: Req): string | undefined {
  const route = req.route
  if (!route) return undefined
  return joinRoute(req.baseUrl ?? '', routePathName(route.path))
}
