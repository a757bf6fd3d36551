import { getAgent, normalizePath, recordOf } from '@agent/core'
// Nest and rxjs are imported as types only: the app's own copies do the work.
import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common'
import type { Observable } from 'rxjs'

interface HttpRequest {
  raw?: object
  route?: { path?: unknown }
  baseUrl?: string
  params?: Record<string, unknown>
  routeOptions?: { url?: string }
}

/** HttpExceptions below 500 are answers, not failures: Nest's filters turn them into 4xx. */
function isClientException(error: unknown): boolean {
  const getStatus = (error as { getStatus?: () => number } | null)?.getStatus
  return typeof getStatus === 'function' && getStatus.call(error) < 500
}

/**
 * Names each request `Controller.method` with its route template, and sees
 * errors before Nest's exception filters turn them into responses. Works on
 * platform-express and platform-fastify alike.
 */
export class AgentInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle()
    const req = context.switchToHttp().getRequest<HttpRequest>()
    const raw = req.raw ?? req
    const record = recordOf(raw)
    if (record === undefined) return next.handle()
    try {
      record.name = `${context.getClass().name}.${context.getHandler().name}`
      const template = req.routeOptions?.url ?? (typeof req.route?.path === 'string' ? (req.baseUrl ? normalizePath(req.baseUrl) : '') + req.route.path : undefined)
      if (template !== undefined) {
        record.route = template
        record.routed = true
        record.params = req.params
      }
    } catch {
      // never into the app
    }
    const source = next.handle()
    // An operator built on the source's own Observable class: no rxjs import of ours.
    const ObservableClass = source.constructor as new (subscribe: (subscriber: { next(v: unknown): void; error(e: unknown): void; complete(): void }) => () => void) => Observable<unknown>
    return new ObservableClass((subscriber) => {
      const subscription = source.subscribe({
        next: (value) => subscriber.next(value),
        error: (error: unknown) => {
          if (!isClientException(error)) getAgent()?.noteError(raw, error)
          subscriber.error(error)
        },
        complete: () => subscriber.complete(),
      })
      return () => subscription.unsubscribe()
    })
  }
}
