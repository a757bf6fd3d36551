import { noteError as noteRequestError } from '@agent/core/internal'
import { routerOf, type AppLike } from './route-map.js'
import { createRequire } from 'node:module'
import { kLayer } from './symbols.js'

// Express is imported as types only: the app's own copy is instrumented.
type LayerProto = Record<string | symbol, unknown>
interface Layer {
  handle?: unknown
  match?: (path: string) => unknown
  constructor: { prototype: LayerProto }
}
export interface ExpressApp extends AppLike {
  (req: unknown, res: unknown, next?: unknown): void
  request: object
}

function noteError(req: object, err: unknown): void {
  // 'route' and 'router' are Express routing signals, not errors.
  if (err === undefined || err === null || err === 'route' || err === 'router') return
  noteRequestError(req, err)
}

/**
 * Errors on their way through the app's layers: Express hands them to each
 * matching layer's `handle_error` (Express 4) or `handleError` (Express 5),
 * error-handling middleware included. The prototype is shared by every layer
 * of one Express copy, so it is wrapped once. Nothing else is: the wrapper is
 * on the stack only while an error is passed on, never while a route or a
 * middleware serves a request, so the stacks of the app's errors (and
 * Express's error pages, which print them) are what they are without the agent.
 */
function noteErrorsOnLayers(layer: Layer | undefined): boolean {
  const proto = layer?.constructor?.prototype
  if (!proto) return false
  if (proto[kLayer]) return true
  const name = typeof proto.handleError === 'function' ? 'handleError' : typeof proto.handle_error === 'function' ? 'handle_error' : undefined
  if (!name) return false
  const original = proto[name] as (this: unknown, error: unknown, req: object, res: unknown, next: unknown) => unknown
  Object.defineProperty(proto, kLayer, { value: true })
  // Named as Express names it, so a stack that does show it reads the same.
  const wrapped = {
    [name](this: unknown, error: unknown, req: object, res: unknown, next: unknown) {
      try {
        noteError(req, error)
      } catch {
        // never into the app
      }
      return original.call(this, error, req, res, next)
    },
  }[name]!
  proto[name] = wrapped
  return true
}

/** Layer modules of Express 4 and of router 2.x (Express 5), as the module cache names them. */
const LAYER_MODULE = /[\\/](?:express[\\/]lib[\\/]router|router[\\/]lib)[\\/]layer\.js$/

/** Scans of the module cache that found no Layer (a bundled app): a few at most. */
let emptyScans = 0

/** Every copy of Express's Layer the app has loaded (Express is CommonJS: ESM apps' copies too). */
function loadedLayers(): boolean {
  if (emptyScans >= 3) return false
  let found = false
  for (const [file, mod] of Object.entries(createRequire(import.meta.url).cache)) {
    if (!LAYER_MODULE.test(file)) continue
    const Layer = mod?.exports as unknown
    if (typeof Layer === 'function' && noteErrorsOnLayers({ constructor: Layer } as unknown as Layer)) found = true
  }
  if (!found) emptyScans++
  return found
}

/** Apps whose Layer class notes errors: kept off the app. */
const instrumented = new WeakSet<object>()

/**
 * Instruments one Express app for errors: route templates need nothing
 * per request (they are read at the request's end, route-map.ts). The Layer
 * class is found in the module cache, else through the app's router where
 * `routerExists` (reading Express 5's `app.router` creates it, with the
 * settings of that moment: never before the app has used it). Idempotent and
 * never throws; on an unknown Express shape it does nothing.
 */
export function instrumentApp(app: ExpressApp | undefined, routerExists = true): boolean {
  if (typeof app !== 'function' || typeof app.request !== 'object') return false
  if (instrumented.has(app)) return true
  try {
    const router = routerExists || '_router' in app ? routerOf(app) : undefined
    // Until Express is loaded, or the app has a layer, there is no Layer class to reach: try again later.
    if (loadedLayers() || noteErrorsOnLayers(router?.stack?.[0] as Layer | undefined)) instrumented.add(app)
    return true
  } catch {
    return false
  }
}

/**
 * The agent's middleware, once it knows its app: Express skips its layer from
 * then on (it never matches), so no request runs under it and no stack shows
 * it. `handle`: the middleware's own function; undefined for the layer
 * `app.use()` has just added for it as a mounted app (the last one).
 */
export function retireLayer(app: ExpressApp | undefined, handle: unknown): void {
  const stack = app ? (routerOf(app)?.stack as Layer[] | undefined) : undefined
  if (!stack || stack.length === 0) return
  const layers = handle === undefined ? [stack[stack.length - 1]!] : stack.filter((layer) => layer.handle === handle)
  for (const layer of layers) {
    if (typeof layer.match === 'function') {
      layer.match = function never() {
        return false
      }
    }
  }
}
