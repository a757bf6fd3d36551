import dc from 'node:diagnostics_channel'
import { nameRequest, noteError, requestMapsShared } from '@agent/core/internal'
import { instrumentApp, type ExpressApp } from './instrument-express.js'
import { read, routeOf, type AppLike, type ExpressRequest } from './route-map.js'
import { kRouterErrors, routerRecordsErrors } from './layer-errors.js'
import { kFinish } from './symbols.js'

/** The app last instrumented: the next requests of one app skip even the WeakSet. */
let lastApp: unknown

/** Instruments a request's app for errors on the way (for its next requests), once. */
function instrumentOnce(app: unknown): void {
  if (app !== lastApp && instrumentApp(app as ExpressApp | undefined)) lastApp = app
}

/** Notes the first of the errors router 2.3+ recorded on a request (layer-errors.ts): the cause; the set keeps them in order. */
function noteRecorded(req: object, errors: unknown): void {
  if (errors instanceof Set && errors.size > 0) noteError(req, errors.values().next().value)
}

/** `atEnd` where each request has a map of its own (Node 20, 22). */
function atEndReflect(req: object): string | undefined {
  const app = read(req, 'app')
  instrumentOnce(app)
  // An own property, looked up as one: absent (most requests), it is not looked for up the prototype chain.
  if (routerRecordsErrors() && Object.hasOwn(req, kRouterErrors)) noteRecorded(req, read(req, kRouterErrors))
  return routeOf(req, app as AppLike | undefined, read(req, 'route') as ExpressRequest['route'])
}

/** `atEnd` where V8 shares one map among Express's requests (Node 24 on). */
function atEndPlain(req: ExpressRequest): string | undefined {
  const app = req.app
  instrumentOnce(app)
  if (routerRecordsErrors()) noteRecorded(req, req[kRouterErrors])
  return routeOf(req, app as AppLike | undefined, req.route)
}

/**
 * What Express left on a request at its end: the app (instrumented for errors
 * on the way, for the next requests), the error its routers recorded (router
 * 2.3+), and the route template, which it returns. Two forms, chosen once by
 * core's `requestMapsShared`: with Reflect.get where each request has a map of
 * its own (Node 20 and 22), with plain reads where V8 shares one (Node 24 on).
 * One straight function each, rather than a branch at each read: V8's
 * inlining around it moved by 0.7k instructions a request on Node 22.
 */
export const atEnd: (req: object) => string | undefined = requestMapsShared ? atEndPlain : atEndReflect

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
 * message's own request. Subscribed before the agent is installed, so it runs
 * before core's own subscriber; where it does not (the agent was installed
 * first by another entry), core asks `nameAtEnd` instead, which reads the
 * same. Not core's resolver alone: on Node 22, naming inside core's `finish`
 * cost 1.3k to 2k more per request (callgrind; V8 inlines differently
 * there), on Node 24 no less than this. Once per process, whichever copy of
 * the package calls it.
 */
export function nameOnFinish(): void {
  const g = globalThis as Record<symbol, unknown>
  if (g[kFinish]) return
  g[kFinish] = true
  dc.subscribe('http.server.response.finish', onResponseFinish)
}
