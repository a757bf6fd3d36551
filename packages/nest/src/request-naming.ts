import { joinRoute, nameHandler, nameRequest, requestMapsShared } from '@agent/core/internal'
import type { ExecutionContext } from '@nestjs/common'
import { notePlatform } from './nest-info.js'

/** Nest's request on either platform: Express's own request, or Fastify's with `raw`. */
export interface HttpRequest {
  raw?: object
  route?: { path?: unknown }
  baseUrl?: string
  routeOptions?: { url?: string }
  routerPath?: string
}

/**
 * Reads a property of Nest's request. On platform-express it is Express's
 * request, whose prototype Express swaps on every request: a plain `req.raw`
 * misses V8's inline caches each time (about 1.4k instructions under
 * callgrind, more for a property it does not have); `Reflect.get` looks it up
 * without one.
 */
export const read = Reflect.get as <K extends keyof HttpRequest>(target: HttpRequest, key: K) => HttpRequest[K]

/** The IncomingMessage under Nest's request, on either platform. */
export function rawRequest(req: HttpRequest): object {
  return read(req, 'raw') ?? req
}

function fastifyRoute(req: HttpRequest): string | undefined {
  return read(req, 'routeOptions')?.url ?? read(req, 'routerPath')
}

/**
 * The route Express left on Nest's request (platform-express): plain reads
 * where V8 shares one map among Express's requests (core's
 * `requestMapsShared`, Node 24 on), `read` elsewhere.
 */
export function expressRouteOf(req: HttpRequest): HttpRequest['route'] {
  return requestMapsShared ? req.route : read(req, 'route')
}

/** Its template: the route's path under the path the app is mounted at, if any. */
export function expressRoute(req: HttpRequest): string | undefined {
  const path = expressRouteOf(req)?.path
  return typeof path === 'string' ? joinRoute((requestMapsShared ? req.baseUrl : read(req, 'baseUrl')) ?? '', path) : undefined
}

/** `Controller.method`, made once per handler rather than per request. */
const handlerNames = new WeakMap<Function, { controller: Function; name: string }>()

function handlerName(context: ExecutionContext): string {
  const handler = context.getHandler()
  const controller = context.getClass()
  const cached = handlerNames.get(handler)
  if (cached !== undefined && cached.controller === controller) return cached.name
  const name = `${controller.name}.${handler.name}`
  handlerNames.set(handler, { controller, name })
  return name
}

let platformNoted = false

/**
 * Names the request `Controller.method` and gives it its route template, the
 * same for the first request as for the rest.
 */
export function nameNestRequest(context: ExecutionContext): void {
  if (context.getType() !== 'http') return
  const req = context.switchToHttp().getRequest<HttpRequest>()
  const name = handlerName(context)
  // On platform-express the request is the measured IncomingMessage itself; on platform-fastify it is `raw`.
  // Express's request is never asked for `raw`: a property it does not have is the dearest read of all
  // (its whole prototype chain; callgrind: 3.3k instructions per Nest request less without it).
  let measured: object = req
  let found = nameHandler(req, name)
  if (found === 'unmeasured') {
    const raw = read(req, 'raw')
    if (raw !== undefined) {
      measured = raw
      found = nameHandler(measured, name)
    }
  }
  if (found === 'unmeasured') return
  const onExpress = measured === req
  if (!platformNoted) {
    platformNoted = true
    notePlatform(onExpress ? 'express' : 'fastify')
  }
  if (found !== 'unnamed') return
  const template = onExpress ? expressRoute(req) : fastifyRoute(req)
  if (template !== undefined) nameRequest(measured, template)
}
