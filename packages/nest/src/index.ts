export { AgentModule } from './agent-module.js'
export { AgentGuard } from './agent-guard.js'
export { startSpan, currentRequest } from '@agent/core'
