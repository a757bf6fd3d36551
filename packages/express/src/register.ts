// `node --import @agent/express/register app.mjs` (or --require for CommonJS):
// installs the agent before the app loads. Every request of every Express app
// is named at its end from what Express left on it; nothing is added to the app.
import { install } from '@agent/core/internal'
import { nameAtEnd } from './index.js'
import { expressInfo } from './express-info.js'
import { whatAnswered } from './unrouted.js'
import { nameOnFinish } from './finish-naming.js'

import { kRegistered } from './symbols.js'

const g = globalThis as Record<symbol, unknown>

if (!g[kRegistered]) {
  g[kRegistered] = true
  nameOnFinish()
  install({ framework: expressInfo(), frameworkLoaded: false, routeResolver: nameAtEnd, unroutedNamer: whatAnswered })
}
