// The small API the framework integrations name requests with. They find no
// record and write no field themselves: a request is named here, by the
// request object the framework hands them.
import { recordOf } from './http-instrumentation.js'

/**
 * Names the request in flight by its route template (`/users/:id`). A later
 * name replaces an earlier one. Does nothing for a request the agent does not
 * measure.
 */
export function nameRequest(req: object, route: string): void {
  const record = recordOf(req)
  if (record !== undefined) record.route = route
}

/**
 * Names the handler that serves the request (Nest: `Controller.method`), the
 * root span's name in its trace. Says whether the request is measured and,
 * if so, whether it has a route name yet.
 */
export function nameHandler(req: object, handler: string): 'unmeasured' | 'named' | 'unnamed' {
  const record = recordOf(req)
  if (record === undefined) return 'unmeasured'
  record.name = handler
  return record.route === undefined ? 'unnamed' : 'named'
}

/**
 * Notes the error the request failed with; it is captured once, at the
 * request's end, with its route. The first error noted wins: it is the cause.
 */
export function noteError(req: object, error: unknown): void {
  const record = recordOf(req)
  if (record !== undefined && record.error === undefined) record.error = error
}
