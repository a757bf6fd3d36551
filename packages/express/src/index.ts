import { install, getAgent, type AgentOptions, frameworkInfo } from '@agent/core/internal'
import { instrumentApp, type ExpressApp } from './instrument-express.js'

export { instrumentApp }

let framework: ReturnType<typeof frameworkInfo> | undefined
function installForExpress(options?: AgentOptions) {
  framework ??= frameworkInfo('express')
  return install({ ...options, framework })
}

/**
 * Express middleware: installs the agent (once per process), instruments the
 * app for route templates and errors, and starts a standing-by agent on the
 * first request without delaying it. Put it first: `app.use(agentMiddleware())`.
 */
export function agentMiddleware(options?: AgentOptions) {
  // Installed now, not on the first request, so that request is measured too.
  installForExpress(options)
  return function agentMiddleware(req: { app?: ExpressApp }, _res: unknown, next: () => void): void {
    try {
      instrumentApp(req.app)
      getAgent()?.onFirstRequest()
    } catch {
      // never into the app
    }
    next()
  }
}

/** Instruments an app and installs the agent: `instrument(app)` after `const app = express()`. */
export function instrument<T>(app: T, options?: AgentOptions): T {
  try {
    instrumentApp(app as unknown as ExpressApp)
    ;(app as unknown as { use: (fn: unknown) => void }).use(agentMiddleware(options))
  } catch {
    // never into the app
  }
  return app
}
export { startSpan, currentRequest } from '@agent/core'
