export { agentPlugin, instrument } from './agent-plugin.js'
export { agentPlugin as default } from './agent-plugin.js'
export { startSpan, currentRequest } from '@agent/core'
