import { install, type AgentOptions } from '@agent/core/internal'
import type { DynamicModule } from '@nestjs/common'
import { AgentGuard } from './agent-guard.js'
import { hookNestExceptions } from './exceptions-hook.js'
import { nestInfo } from './nest-info.js'

/** Nest's token for global guards (APP_GUARD in @nestjs/core). */
const APP_GUARD = 'APP_GUARD'

/**
 * `imports: [AgentModule.forRoot()]` in the root module: installs the agent,
 * a global guard that names each request, and the exception hook.
 */
export class AgentModule {
  static forRoot(options: AgentOptions = {}): DynamicModule {
    install({ ...options, framework: nestInfo() })
    hookNestExceptions()
    return {
      module: AgentModule,
      global: true,
      providers: [{ provide: APP_GUARD, useClass: AgentGuard }],
    }
  }
}
