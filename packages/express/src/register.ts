// `node --import @agent/express/register app.mjs` (or --require for CommonJS):
// installs the agent before the app loads and instruments every Express app
// that serves a request, with no change to the app's code.
import dc from 'node:diagnostics_channel'
import { install, recordOf, frameworkInfo } from '@agent/core'
import { instrumentApp, routeFromRequest, type ExpressApp } from './instrument-express.js'

const kRegistered = Symbol.for('@agent/express.register')
const g = globalThis as Record<symbol, unknown>

if (!g[kRegistered]) {
  g[kRegistered] = true
  install({ framework: frameworkInfo('express'), frameworkLoaded: false })
  // 'finish' comes before the agent reads the record at 'close'.
  dc.subscribe('http.server.response.finish', (message) => {
    const { request } = message as { request: { app?: ExpressApp } }
    const app = request.app
    if (app === undefined || !instrumentApp(app)) return
    const record = recordOf(request)
    if (record !== undefined && record.route === undefined) {
      const route = routeFromRequest(request as Parameters<typeof routeFromRequest>[0])
      if (route !== undefined) record.route = route
    }
  })
}
