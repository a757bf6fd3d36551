import { install, type AgentOptions, frameworkInfo } from '@agent/core'
import type { DynamicModule } from '@nestjs/common'
import { AgentInterceptor } from './agent-interceptor.js'

/** Nest's token for global interceptors (APP_INTERCEPTOR in @nestjs/core). */
const APP_INTERCEPTOR = 'APP_INTERCEPTOR'

/**
 * `imports: [AgentModule.forRoot()]` in the root module: installs the agent
 * and the global AgentInterceptor.
 */
export class AgentModule {
  static forRoot(options: AgentOptions = {}): DynamicModule {
    install({ ...options, framework: frameworkInfo('@nestjs/core') })
    return {
      module: AgentModule,
      global: true,
      providers: [{ provide: APP_INTERCEPTOR, useClass: AgentInterceptor }],
    }
  }
}
