import { noteError as noteRequestError } from '@agent/core/internal'
import { routerOf, type AppLike } from './route-map.js'
import { createRequire } from 'node:module'
import { noteErrorsOnLayers } from './layer-errors.js'

// Express is imported as types only: the app's own copy is instrumented.
interface Layer {
  handle?: unknown
  match?: (path: string) => unknown
}
export interface ExpressApp extends AppLike {
  (req: unknown, res: unknown, next?: unknown): void
  request: object
}

/** Called by Express's error method (compiled again, layer-errors.ts) before the app's middleware runs. */
function noteError(error: unknown, req: object): void {
  try {
    // 'route' and 'router' are Express routing signals, not errors.
    if (error === undefined || error === null || error === 'route' || error === 'router') return
    noteRequestError(req, error)
  } catch {
    // never into the app
  }
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
    if (noteErrorsOnLayers(mod?.exports, file, noteError)) found = true
  }
  if (!found) emptyScans++
  return found
}

/** Apps whose Layer class notes errors: kept off the app. */
const instrumented = new WeakSet<object>()

/**
 * Instruments one Express app for errors (layer-errors.ts): route templates
 * need nothing per request (they are read at the request's end,
 * route-map.ts). The Layer class is found in the module cache, where Express
 * (CommonJS) loaded it; a bundled app has none, and its errors are counted by
 * status only. Idempotent and never throws; on an unknown Express shape it
 * does nothing. The app's router is not read (Express 5's getter would create it).
 * True once the app's Layer classes are handled.
 */
export function instrumentApp(app: ExpressApp | undefined): boolean {
  if (typeof app !== 'function' || typeof app.request !== 'object') return false
  if (instrumented.has(app)) return true
  try {
    // Until Express is loaded there is no Layer class to reach: try again later.
    if (!loadedLayers()) return false
    instrumented.add(app)
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
