import { normalizePath, recordOf } from '@agent/core'
import type { ExecutionContext } from '@nestjs/common'

export interface HttpRequest {
  raw?: object
  route?: { path?: unknown }
  baseUrl?: string
  params?: Record<string, unknown>
  routeOptions?: { url?: string }
}

/** The IncomingMessage under Nest's request, on either platform. */
export function rawRequest(req: HttpRequest): object {
  return req.raw ?? req
}

/** Names the request `Controller.method` and gives it its route template. */
export function nameRequest(context: ExecutionContext): void {
  if (context.getType() !== 'http') return
  const req = context.switchToHttp().getRequest<HttpRequest>()
  const record = recordOf(rawRequest(req))
  if (record === undefined) return
  record.name = `${context.getClass().name}.${context.getHandler().name}`
  const template = req.routeOptions?.url ?? (typeof req.route?.path === 'string' ? (req.baseUrl ? normalizePath(req.baseUrl) : '') + req.route.path : undefined)
  if (template !== undefined) {
    record.route = template
    record.params = req.params
  }
}
