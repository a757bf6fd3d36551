import { noteError } from '@agent/core/internal'
import { createRequire } from 'node:module'
import { rawRequest, type HttpRequest } from './request-naming.js'

import { kHooked } from './symbols.js'
const HANDLER_MODULE = /[\\/]@nestjs[\\/]core[\\/]exceptions[\\/]exceptions-handler\.js$/
let hooked = false

/** HttpExceptions below 500 are answers, not failures: Nest's filters turn them into 4xx. */
function isClientException(error: unknown): boolean {
  const getStatus = (error as { getStatus?: () => number } | null)?.getStatus
  return typeof getStatus === 'function' && getStatus.call(error) < 500
}

/**
 * Every exception a Nest route throws goes through ExceptionsHandler.next
 * before the exception filters: the one place to see it without an
 * interceptor. Nest is CommonJS, so the app's own copy is found in the module
 * cache. Idempotent; never throws; does nothing if Nest's shape is unknown.
 */
export function hookNestExceptions(): void {
  if (hooked) return
  try {
    const cache = createRequire(import.meta.url).cache
    for (const [file, mod] of Object.entries(cache)) {
      if (!HANDLER_MODULE.test(file)) continue
      const proto = (mod?.exports as { ExceptionsHandler?: { prototype: Record<string | symbol, unknown> } } | undefined)?.ExceptionsHandler?.prototype
      if (!proto || proto[kHooked] || typeof proto.next !== 'function') continue
      const next = proto.next as (this: unknown, exception: unknown, host: { getArgByIndex(i: number): unknown }) => unknown
      proto[kHooked] = true
      proto.next = function agentExceptionsNext(this: unknown, exception: unknown, host: { getArgByIndex(i: number): unknown }) {
        try {
          const req = host.getArgByIndex(0) as HttpRequest | undefined
          if (req && !isClientException(exception)) noteError(rawRequest(req), exception)
        } catch {
          // never into the app
        }
        return next.call(this, exception, host)
      }
      hooked = true
    }
  } catch {
    // the app runs on; errors are still counted by status
  }
}
