import { noteError, requestMapsShared } from '@agent/core/internal'
import { instrumentApp, type ExpressApp } from './instrument-express.js'
import { read, routeOf, type AppLike, type ExpressRequest } from './route-map.js'
import { kRouterErrors, routerRecordsErrors } from './layer-errors.js'

/** The app last instrumented, and the prototype it gives its requests (`app.request`). */
let lastApp: unknown
let lastPrototype: object | null = null

/**
 * The app that answered a request, instrumented for errors on the way (for
 * its next requests). Where each request has a map of its own
 * (`requestMapsShared`), the next requests of one app are known by their
 * prototype, the object that holds `app`: `Object.getPrototypeOf` costs
 * half of `read(req, 'app')`.
 */
function appOf(req: object): unknown {
  if (requestMapsShared) {
    const app = (req as ExpressRequest).app
    if (app !== lastApp && instrumentApp(app as ExpressApp | undefined)) lastApp = app
    return app
  }
  const prototype = Object.getPrototypeOf(req) as object | null
  if (prototype === lastPrototype) return lastApp
  const app = read(req, 'app')
  // Kept only once instrumented: until Express's Layer class is loaded, it is tried again.
  if (instrumentApp(app as ExpressApp | undefined)) {
    lastPrototype = prototype
    lastApp = app
  }
  return app
}

/** The errors router 2.3+ recorded on a request (layer-errors.ts), if any. */
function recordedErrors(req: object): unknown {
  if (requestMapsShared) return (req as ExpressRequest)[kRouterErrors]
  // An own property, looked up as one: absent (most requests), it is not looked for up the prototype chain.
  return Object.hasOwn(req, kRouterErrors) ? read(req, kRouterErrors) : undefined
}

/**
 * What Express left on a request at its end, asked by core for each request
 * nothing named (its route resolver): the app, the first error its routers
 * recorded (router 2.3+), noted, and the route template, which it returns.
 */
export function atEnd(req: object): string | undefined {
  const app = appOf(req)
  if (routerRecordsErrors()) {
    const errors = recordedErrors(req)
    // The first error is the cause; the set keeps them in order.
    if (errors instanceof Set && errors.size > 0) noteError(req, errors.values().next().value)
  }
  return routeOf(req, app as AppLike | undefined)
}
