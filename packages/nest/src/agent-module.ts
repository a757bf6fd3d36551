import { install, type AgentOptions } from '@agent/core/internal'
import { createRequire } from 'node:module'
import type { DynamicModule } from '@nestjs/common'
import { AgentGuard } from './agent-guard.js'
import { handlerAtEnd, nameAtEnd } from './end-naming.js'
import { hookNestExceptions } from './exceptions-hook.js'
import { nestInfo } from './nest-info.js'
import { noteRouteHandlers } from './route-handlers.js'

/** Nest's token for global guards (APP_GUARD in @nestjs/core). */
const APP_GUARD = 'APP_GUARD'

const PLATFORM_MODULE = /[\\/]@nestjs[\\/]platform-(express|fastify)[\\/]/

/** The one Nest platform the process has loaded, if only one. */
function loadedPlatform(): string | undefined {
  const found = new Set<string>()
  for (const file of Object.keys(createRequire(import.meta.url).cache)) {
    const platform = PLATFORM_MODULE.exec(file)?.[1]
    if (platform !== undefined) found.add(platform)
  }
  return found.size === 1 ? [...found][0] : undefined
}

/**
 * The global guard, made by Nest as it bootstraps the app, when its platform
 * is loaded and before any route is registered. On platform-express there is
 * none: each request is named at its end from the Express route it left
 * (`nameAtEnd`), and, for a request kept as a trace, its handler from the
 * routes Nest registers (`noteRouteHandlers`, `handlerAtEnd`); with no guard of the app's either, Nest then runs no
 * guard machinery on any request (on Node 24 that machinery cost more than
 * the rest of the agent). Nest skips a global enhancer whose factory returns
 * nothing. Elsewhere (platform-fastify, or a Nest where the routes cannot be
 * followed) the guard names each request.
 */
function agentGuard(): AgentGuard | null {
  try {
    hookNestExceptions()
    if (loadedPlatform() === 'express' && noteRouteHandlers()) return null
  } catch {
    // the guard, as before
  }
  return new AgentGuard()
}

/**
 * `imports: [AgentModule.forRoot()]` in the root module: installs the agent,
 * the exception hook, and, where the platform needs it, a global guard that
 * names each request.
 */
export class AgentModule {
  static forRoot(options: AgentOptions = {}): DynamicModule {
    install({ ...options, framework: nestInfo(), routeResolver: nameAtEnd, handlerNamer: handlerAtEnd })
    hookNestExceptions()
    return {
      module: AgentModule,
      global: true,
      providers: [{ provide: APP_GUARD, useFactory: agentGuard }],
    }
  }
}
