import { createRequire } from 'node:module'
import { kExplorer, kHandlerNames } from './symbols.js'

/** Nest's router explorer, as the module cache names it (@nestjs/core is CommonJS: ESM apps' copy too). */
const EXPLORER_MODULE = /[\\/]@nestjs[\\/]core[\\/]router[\\/]router-explorer\.js$/

/** `Controller.method` of each Express route Nest registered, by the route (`req.route`). Shared by every copy of the package. */
const g = globalThis as Record<symbol, unknown>
export const routeHandlerNames = (g[kHandlerNames] ??= new WeakMap<object, string>()) as WeakMap<object, string>

interface Layer {
  route?: object
}
interface ExpressApp {
  _router?: { stack?: Layer[] }
  router?: { stack?: Layer[] }
  lazyrouter?: unknown
}
interface RouteDefinition {
  methodName?: unknown
}
interface InstanceWrapper {
  metatype?: { name?: unknown } | null
  name?: unknown
}
type ApplyCallback = (this: unknown, router: unknown, routeDefinition: RouteDefinition, instanceWrapper: InstanceWrapper, ...rest: unknown[]) => unknown

/** The layers of the Express app under Nest's ExpressAdapter; undefined on any other platform. */
function expressLayers(adapter: unknown): Layer[] | undefined {
  const instance = (adapter as { getInstance?: () => unknown } | null)?.getInstance?.()
  // An Express app is a function; a Fastify instance is not.
  if (typeof instance !== 'function') return undefined
  const app = instance as unknown as ExpressApp
  // Express 4's router is made at the first route; Express 5's getter makes one.
  const router = '_router' in app || typeof app.lazyrouter === 'function' ? app._router : app.router
  return Array.isArray(router?.stack) ? router.stack : undefined
}

/** The layers `register` added to the adapter's app, each route named after its handler. */
function nameNewRoutes(adapter: unknown, register: () => unknown, name: string): unknown {
  const before = expressLayers(adapter)?.length ?? 0
  const result = register()
  try {
    const layers = expressLayers(adapter)
    if (layers !== undefined) for (const layer of layers.slice(before)) if (layer.route) routeHandlerNames.set(layer.route, name)
  } catch {
    // those routes go without a handler's name
  }
  return result
}

/**
 * Learns, as Nest registers its routes on Express, which controller method
 * each Express route calls: `RouterExplorer.applyCallbackToRouter`, which Nest
 * runs once per route at bootstrap (never per request), is wrapped to read the
 * Express layers it added. A request's route (`req.route`) then names its
 * handler at the request's end with one WeakMap look-up, and no guard runs on
 * the request's path. Idempotent, never throws; true once wrapped (false if
 * this Nest has no such method: then AgentModule keeps its guard).
 */
export function noteRouteHandlers(): boolean {
  try {
    for (const [file, mod] of Object.entries(createRequire(import.meta.url).cache)) {
      if (!EXPLORER_MODULE.test(file)) continue
      const proto = (mod?.exports as { RouterExplorer?: { prototype: Record<string | symbol, unknown> } } | undefined)?.RouterExplorer?.prototype
      if (!proto || typeof proto.applyCallbackToRouter !== 'function') continue
      if (proto[kExplorer]) return true
      const original = proto.applyCallbackToRouter as ApplyCallback
      Object.defineProperty(proto, kExplorer, { value: true })
      proto.applyCallbackToRouter = function applyCallbackToRouter(this: unknown, router: unknown, routeDefinition: RouteDefinition, instanceWrapper: InstanceWrapper, ...rest: unknown[]) {
        let name: string | undefined
        try {
          const controller = instanceWrapper?.metatype?.name ?? instanceWrapper?.name
          if (typeof controller === 'string' && typeof routeDefinition?.methodName === 'string') name = `${controller}.${routeDefinition.methodName}`
        } catch {
          // registered as Nest does it, without a name
        }
        const register = () => original.call(this, router, routeDefinition, instanceWrapper, ...rest)
        return name === undefined ? register() : nameNewRoutes(router, register, name)
      }
      return true
    }
  } catch {
    // Nest of an unknown shape
  }
  return false
}
