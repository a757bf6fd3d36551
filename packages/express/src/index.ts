import { install, type AgentOptions } from '@agent/core/internal'
import { instrumentApp, retireLayer, type ExpressApp } from './instrument-express.js'
import { expressInfo } from './express-info.js'
import { whatAnswered } from './unrouted.js'
import { atEnd, nameOnFinish } from './finish-naming.js'

// Before any install() of the app's: this subscriber runs before core's.
nameOnFinish()

export { instrumentApp }

/**
 * Asked at the end of each request nothing named: Express has left on it the
 * route that answered (`req.route`), the app (`req.app`), which is
 * instrumented for errors on the way, and, with router 2.3+, its errors.
 */
export const nameAtEnd: (req: object) => string | undefined = atEnd

function installForExpress(options: AgentOptions | undefined, loaded: boolean): void {
  install({ ...options, framework: expressInfo(), frameworkLoaded: loaded, routeResolver: nameAtEnd, unroutedNamer: whatAnswered })
}

/**
 * Express middleware: installs the agent (once per process) and instruments
 * the app, adding nothing any request runs through. `app.use()` tells an app
 * it mounts that it was mounted ('mount'), so the middleware offers itself as
 * one: it learns its app then and retires its own layer at once (Express skips
 * it from then on). Put in a Router instead, it does the same on its first
 * request. Put it first: `app.use(agentMiddleware())`.
 */
export function agentMiddleware(options?: AgentOptions) {
  // Installed now, not on the first request, so that request is measured too.
  installForExpress(options, true)
  function agentMiddleware(req: object, _res: unknown, next: () => void): void {
    try {
      const app = (req as { app?: ExpressApp }).app
      instrumentApp(app)
      retireLayer(app, agentMiddleware)
    } catch {
      // never into the app
    }
    next()
  }
  return Object.assign(agentMiddleware, {
    /** Called by Express only if its layer could not be retired: it passes the request on. */
    handle(_req: unknown, _res: unknown, done: () => void): void {
      done()
    },
    set(): void {},
    emit(event: unknown, parent: unknown): boolean {
      try {
        if (event === 'mount') {
          instrumentApp(parent as ExpressApp)
          retireLayer(parent as ExpressApp, undefined)
        }
      } catch {
        // never into the app
      }
      return true
    },
  })
}

/** Installs the agent and instruments an app, adding nothing to it: `instrument(app)` after `const app = express()`. */
export function instrument<T>(app: T, options?: AgentOptions): T {
  try {
    installForExpress(options, true)
    instrumentApp(app as unknown as ExpressApp)
  } catch {
    // never into the app
  }
  return app
}
export { startSpan, currentRequest } from '@agent/core'
