import { joinRoute, nameHandler, nameRequest } from '@agent/core/internal'
import { instrumentApp } from '@agent/express'
import type { ExecutionContext } from '@nestjs/common'

export interface HttpRequest {
  raw?: object
  app?: unknown
  route?: { path?: unknown }
  baseUrl?: string
  routeOptions?: { url?: string }
}

/** The IncomingMessage under Nest's request, on either platform. */
export function rawRequest(req: HttpRequest): object {
  return req.raw ?? req
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

/**
 * Names the request `Controller.method` and gives it its route template.
 * On platform-express the request is Express's own, whose every read misses
 * V8's caches (Express gives each request a map of its own): the record is
 * found by identity, and the Express app is instrumented on its first request
 * so that the template comes from Express's routing from then on.
 */
export function nameNestRequest(context: ExecutionContext): void {
  if (context.getType() !== 'http') return
  const req = context.switchToHttp().getRequest<HttpRequest>()
  const name = handlerName(context)
  // On platform-express the request is the measured IncomingMessage itself; on platform-fastify it is `raw`.
  let measured: object = req
  let found = nameHandler(req, name)
  const onExpress = found !== 'unmeasured'
  if (!onExpress && req.raw !== undefined) {
    measured = req.raw
    found = nameHandler(measured, name)
  }
  if (found !== 'unnamed') return
  if (onExpress) instrumentApp(req.app as Parameters<typeof instrumentApp>[0])
  const template = req.routeOptions?.url ?? (typeof req.route?.path === 'string' ? joinRoute(req.baseUrl ?? '', req.route.path) : undefined)
  if (template !== undefined) nameRequest(measured, template)
}
