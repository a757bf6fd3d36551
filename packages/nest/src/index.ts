export { AgentModule } from './agent-module.js'
export { AgentInterceptor } from './agent-interceptor.js'
export { startSpan, currentRequest } from '@agent/core'
