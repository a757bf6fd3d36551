import { joinRoute, nameHandler, requestMapsShared } from '@agent/core/internal'
import { hookNestExceptions } from './exceptions-hook.js'
import { notePlatform } from './nest-info.js'
import { read, type HttpRequest } from './request-naming.js'
import { routeHandlerNames } from './route-handlers.js'

let hookAttempts = 0
let platformNoted = false

/**
 * Asked by core at the end of each request nothing named (its route
 * resolver). On platform-express, Express has left on the request the route
 * Nest registered: its path (under the path the Nest app is mounted at, if
 * any) is the endpoint, and the controller method it calls
 * (route-handlers.ts) the trace's name. On platform-fastify the request here
 * is Node's own and carries nothing of Nest's: @agent/fastify or AgentModule's
 * guard names those. Nest is loaded by now: its exception hook goes in (a few
 * attempts at most).
 */
export function nameAtEnd(req: object): string | undefined {
  if (hookAttempts < 3) {
    hookAttempts++
    hookNestExceptions()
  }
  const request = req as HttpRequest
  const route = requestMapsShared ? request.route : read(request, 'route')
  const path = route?.path
  if (typeof path !== 'string') return undefined
  const handler = routeHandlerNames.get(route!)
  if (handler !== undefined) nameHandler(req, handler)
  if (!platformNoted) {
    platformNoted = true
    notePlatform('express')
  }
  return joinRoute((requestMapsShared ? request.baseUrl : read(request, 'baseUrl')) ?? '', path)
}
