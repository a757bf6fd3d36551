import dc from 'node:diagnostics_channel'
import { nameRequest } from '@agent/core/internal'
import { instrumentApp, type ExpressApp } from './instrument-express.js'
import { routeOf, type ExpressRequest } from './route-map.js'
import { kFinish } from './symbols.js'

/**
 * Names an Express request as its response finishes, from what Express left on
 * it, so the request ends there rather than waiting for its connection's
 * 'close' (what core does with a request nothing has named by then, before it
 * asks the route resolvers). Subscribed before the agent is installed, so it
 * runs before core's own subscriber; where it does not (the agent was installed
 * first by another entry), the resolver names the request instead.
 */
function onResponseFinish(message: unknown): void {
  try {
    const req = (message as { request?: ExpressRequest }).request
    if (req === undefined || req.route === undefined) return
    instrumentApp(req.app as ExpressApp | undefined)
    const route = routeOf(req)
    if (route !== undefined) nameRequest(req, route)
  } catch {
    // never into the app
  }
}

/** Once per process, whichever copy of the package calls it. */
export function nameOnFinish(): void {
  const g = globalThis as Record<symbol, unknown>
  if (g[kFinish]) return
  g[kFinish] = true
  dc.subscribe('http.server.response.finish', onResponseFinish)
}
