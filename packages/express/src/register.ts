// `node --import @agent/express/register app.mjs` (or --require for CommonJS):
// installs the agent before the app loads and instruments every Express app
// that serves a request, with no change to the app's code.
import { install, frameworkInfo } from '@agent/core/internal'
import { instrumentApp, routeFromRequest, type ExpressApp } from './instrument-express.js'

import { kRegistered } from './symbols.js'

const g = globalThis as Record<symbol, unknown>

/**
 * Asked at the end of a request nothing named: that is how the register first
 * meets an app (`req.app`). It instruments the app, so its later requests are
 * named as they run, and names this one from what Express left on it.
 */
function nameLate(req: object): string | undefined {
  const app = (req as { app?: ExpressApp }).app
  if (app === undefined || !instrumentApp(app)) return undefined
  return routeFromRequest(req as Parameters<typeof routeFromRequest>[0])
}

if (!g[kRegistered]) {
  g[kRegistered] = true
  install({ framework: frameworkInfo('express'), frameworkLoaded: false, routeResolver: nameLate })
}
