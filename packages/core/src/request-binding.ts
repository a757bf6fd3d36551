import { currentRequest, requestContext } from './request-context.js'

/**
 * A callback the library will call from somewhere else (a connection pool
 * hands a freed client to its next waiter from the request that freed it),
 * made to run in the context of the request that asked. Only the agent's own
 * context is carried: the app's async-local stores are untouched. The
 * callback itself when there is no request or nothing to carry.
 */
export function bindToRequest<F extends (...args: never[]) => unknown>(callback: F): F {
  let record
  try {
    record = currentRequest()
  } catch {
    return callback
  }
  if (record === undefined || requestContext.getStore() === undefined) return callback
  const request = record
  return function bound(this: unknown, ...args: Parameters<F>) {
    return requestContext.run(request, () => callback.apply(this, args))
  } as unknown as F
}
