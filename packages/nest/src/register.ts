// `node --import @agent/nest/register dist/main.js` (or --require): the agent,
// reporting Nest as the framework, with route templates from the platform Nest
// runs on. Controller.method names need AgentModule.forRoot() as well.
import dc from 'node:diagnostics_channel'
import { createRequire } from 'node:module'
import { install } from '@agent/core/internal'
import { nestInfo, notePlatform } from './nest-info.js'
import { handlerAtEnd, nameAtEnd } from './end-naming.js'

import { kRegistered } from './symbols.js'

const g = globalThis as Record<symbol, unknown>
if (!g[kRegistered]) {
  g[kRegistered] = true
  // First, so the process reports Nest as its framework, not the platform under it.
  install({ framework: nestInfo(), frameworkLoaded: false, routeResolver: nameAtEnd, handlerNamer: handlerAtEnd })
  // Fastify says when an instance is made (Nest's FastifyAdapter makes one): the platform is known then.
  dc.subscribe('fastify.initialization', function nestOnFastify() {
    try {
      notePlatform('fastify')
    } catch {
      // never into the app
    }
  })
  // platform-fastify: @agent/fastify names the requests, where the app has installed it (an optional peer).
  try {
    createRequire(import.meta.url)('@agent/fastify/register')
  } catch {
    // not installed: requests on platform-fastify are named by AgentModule's guard, or by URL
  }
}
