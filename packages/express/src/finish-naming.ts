import dc from 'node:diagnostics_channel'
import { nameRequest, noteError } from '@agent/core/internal'
import { instrumentApp, type ExpressApp } from './instrument-express.js'
import { read, routeOf, type AppLike } from './route-map.js'
import { kRouterErrors, routerRecordsErrors } from './layer-errors.js'
import { kFinish } from './symbols.js'

/** The app last instrumented: the next requests of one app skip even the WeakSet. */
let lastApp: unknown

/**
 * What Express left on a request at its end: the app (instrumented for errors
 * on the way, for the next requests), the error its routers recorded (router
 * 2.3+, layer-errors.ts), and the route template, which it returns.
 */
export function atEnd(req: object): string | undefined {
  const app = read(req, 'app')
  if (app !== lastApp && instrumentApp(app as ExpressApp | undefined)) lastApp = app
  // An own property, looked up as one: not found (most requests), it is not looked for up the prototype chain.
  if (routerRecordsErrors() && Object.hasOwn(req, kRouterErrors)) {
    const errors = read(req, kRouterErrors) as Set<unknown> | undefined
    // The first error is the cause; the set keeps them in order.
    if (errors instanceof Set && errors.size > 0) noteError(req, errors.values().next().value)
  }
  return routeOf(req, app as AppLike | undefined)
}

function onResponseFinish(message: unknown): void {
  try {
    const req = (message as { request?: object }).request
    if (req === undefined) return
    const route = atEnd(req)
    if (route !== undefined) nameRequest(req, route)
  } catch {
    // never into the app
  }
}

/**
 * Names each Express request as its response finishes, from the finish
 * message's own request (core's resolver would read `res.req` first).
 * Subscribed before the agent is installed, so it runs before core's own
 * subscriber; where it does not (the agent was installed first by another
 * entry), core asks `nameAtEnd` instead, which reads the same. Once per
 * process, whichever copy of the package calls it.
 */
export function nameOnFinish(): void {
  const g = globalThis as Record<symbol, unknown>
  if (g[kFinish]) return
  g[kFinish] = true
  dc.subscribe('http.server.response.finish', onResponseFinish)
}
