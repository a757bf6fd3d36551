// @agent/core's public API: install the agent, find it, and time work inside
// a request. Integrations and the collector use '@agent/core/internal'.
export { install, getAgent, type InstallOptions } from './install.js'
export type { Agent, AgentOptions, AgentState } from './agent.js'
export type { AgentConfig } from './config.js'
export type { FrameworkInfo } from './framework-info.js'
export { startSpan, currentRequest, type ActiveSpan } from './request-context.js'
export { recordJob, startJob, injectTraceContext, type ActiveJob, type JobOptions, type JobOutcome } from './jobs.js'
export type { RequestRecord, SpanRecord } from './request-record.js'
export { AGENT_VERSION } from './version.js'
