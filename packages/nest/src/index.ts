export { AgentModule } from './agent-module.js'
export { AgentInterceptor } from './agent-interceptor.js'
