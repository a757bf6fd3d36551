import { joinRoute, joinTemplates, routePathName } from '@agent/core/internal'
import { mountPattern, type LayerLike } from './mount-pattern.js'
import type { kRouterErrors } from './layer-errors.js'

interface RouterLike {
  stack?: LayerLike[]
}
/** What an Express app (or a sub-app) is read for. */
export interface AppLike {
  _router?: RouterLike
  router?: RouterLike
  lazyrouter?: () => void
  mountpath?: unknown
  parent?: AppLike
}

const MAX_DEPTH = 8

/**
 * The app's router: Express 4's if made (lazily, at first use); Express 5's
 * getter makes one if there is none, so it is read only once the app serves.
 */
export function routerOf(app: AppLike): RouterLike | undefined {
  if ('_router' in app || typeof app.lazyrouter === 'function') return app._router
  return app.router
}

function isRouter(handle: unknown): handle is RouterLike {
  return typeof handle === 'function' && Array.isArray((handle as RouterLike).stack)
}

/** Per app: each Route object of its router tree, with the mount templates of the routers it sits in. */
const mounts = new WeakMap<object, WeakMap<object, string[]>>()

function walk(router: RouterLike, prefix: string, into: WeakMap<object, string[]>, depth: number): void {
  if (depth > MAX_DEPTH || !Array.isArray(router.stack)) return
  for (const layer of router.stack) {
    if (layer.route) {
      const list = into.get(layer.route)
      if (list === undefined) into.set(layer.route, [prefix])
      else if (!list.includes(prefix)) list.push(prefix)
    } else if (isRouter(layer.handle)) {
      const pattern = mountPattern(layer)
      // A mount of unknown shape: its routes are named from the URL (see routeOf).
      if (pattern !== undefined) walk(layer.handle, prefix + pattern, into, depth + 1)
    }
  }
}

/** Where an app is mounted in its parents (`app.use('/admin', admin)`): Express keeps the pattern as `mountpath`. */
function appPrefix(app: AppLike, depth = 0): string {
  const parent = app.parent
  if (parent === undefined || depth > MAX_DEPTH) return ''
  const path = app.mountpath
  const own = mountPattern({ rawPath: Array.isArray(path) || typeof path === 'string' || path instanceof RegExp ? path : '' }) ?? ''
  return appPrefix(parent, depth + 1) + own
}

/** The mount templates of a route in an app, walking the app's routers again when the route is new. */
function mountsOf(app: AppLike, route: object): string[] | undefined {
  let routes = mounts.get(app)
  let found = routes?.get(route)
  if (found !== undefined) return found
  const router = routerOf(app)
  if (!router) return undefined
  routes = new WeakMap()
  walk(router, '', routes, 0)
  mounts.set(app, routes)
  found = routes.get(route)
  // A route outside the app's tree (in a sub-app): not walked again for it.
  if (found === undefined) routes.set(route, (found = []))
  return found
}

/** Whether a template could have matched a raw path: same segments, literal ones equal. */
function fits(template: string, raw: string): boolean {
  const t = template.split('/')
  const r = raw.split('/')
  if (t.length !== r.length) return false
  return t.every((segment, i) => segment.startsWith(':') || segment.includes('(') || segment.toLowerCase() === r[i]!.toLowerCase())
}

/**
 * Reads a property of an Express request where each request has a map of its
 * own (before Node 24, see core's `requestMapsShared`): without an inline cache.
 */
export const read = Reflect.get as (target: object, key: string | symbol) => unknown

/** What Express leaves on a request that is read here. */
export interface ExpressRequest {
  app?: unknown
  route?: { path?: unknown }
  [kRouterErrors]?: unknown
}

/** The last route named, with its app and name: most requests of a busy app repeat a few routes. */
let last: { route: object; app: unknown; name: string } | undefined

/**
 * A request's route template at its end, from what Express leaves on it: the
 * last route dispatched (`req.route`) under the patterns its routers were
 * mounted with, never the mount path matched in the URL. Undefined when no
 * route answered (middleware, static files, 404s): core names those. `app`
 * and `route`: `req.app` and `req.route`, as the caller has read them.
 */
export function routeOf(req: object, app: AppLike | undefined, route: ExpressRequest['route']): string | undefined {
  if (!route) return undefined
  if (last !== undefined && last.route === route && last.app === app) return last.name
  // The common case, a route mounted in one place: its name made once.
  const known = names.get(route)
  if (known !== undefined && known.app === app) {
    last = { route, app, name: known.name }
    return known.name
  }
  const routePath = routePathName(route.path)
  const chains = app ? mountsOf(app, route) : undefined
  const baseUrl = (read(req, 'baseUrl') as string | undefined) ?? ''
  if (!app || !chains || chains.length === 0) return joinRoute(baseUrl, routePath)
  const prefix = appPrefix(app)
  if (chains.length === 1) {
    const name = joinTemplates(prefix + chains[0]!, routePath)
    names.set(route, { app, name })
    return name
  }
  const chain = chains.find((c) => fits(prefix + c, baseUrl)) ?? chains[0]!
  return joinTemplates(prefix + chain, routePath)
}

/** Each route's name, where its router is mounted in one place only, with the app it was made for. */
const names = new WeakMap<object, { app: AppLike; name: string }>()
