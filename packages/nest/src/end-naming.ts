import { hookNestExceptions } from './exceptions-hook.js'
import { notePlatform } from './nest-info.js'
import { expressRoute, expressRouteOf, type HttpRequest } from './request-naming.js'
import { routeHandlerNames } from './route-handlers.js'

let hookAttempts = 0
let platformNoted = false

/**
 * Asked by core at the end of each request nothing named (its route
 * resolver). On platform-express, Express has left on the request the route
 * Nest registered: its path (under the path the Nest app is mounted at, if
 * any) is the endpoint. On platform-fastify the request here is Node's own
 * and carries nothing of Nest's: @agent/fastify or AgentModule's guard names
 * those. Nest is loaded by now: its exception hook goes in (a few attempts at
 * most).
 */
export function nameAtEnd(req: object): string | undefined {
  if (hookAttempts < 3) {
    hookAttempts++
    hookNestExceptions()
  }
  const route = expressRoute(req as HttpRequest)
  if (route !== undefined && !platformNoted) {
    platformNoted = true
    notePlatform('express')
  }
  return route
}

/**
 * The controller method that served a request kept as a trace, on
 * platform-express (core's handler namer): the one Nest registered for the
 * route Express left on it (route-handlers.ts). Asked only for the few
 * requests kept, not at each request's end.
 */
export function handlerAtEnd(req: object): string | undefined {
  const route = expressRouteOf(req as HttpRequest)
  return route ? routeHandlerNames.get(route) : undefined
}
