import type { CanActivate, ExecutionContext } from '@nestjs/common'
import { hookNestExceptions } from './exceptions-hook.js'
import { nameNestRequest } from './request-naming.js'

/**
 * A global guard that always lets the request through: it only names it.
 * A guard, not an interceptor: on Node 20 any interceptor makes Nest bind an
 * AsyncResource per request, which costs more than the whole agent.
 */
export class AgentGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    try {
      hookNestExceptions()
      nameNestRequest(context)
    } catch {
      // never into the app
    }
    return true
  }
}
