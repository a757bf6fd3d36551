import { dirname } from 'node:path'
import { Agent, type AgentOptions } from './agent.js'
import type { FrameworkInfo } from './framework-info.js'
import { globalState } from './global-state.js'
import { describeError } from './guards.js'
import { noteActivationForDoctor } from './doctor-watch.js'
import { ENV_INHERITED_OPTIONS } from './fork-hook.js'
import { messages } from './messages.js'
import type { HandlerNamer, ParamsResolver, RouteResolver, UnroutedNamer } from './request-recorder.js'

export interface InstallOptions extends AgentOptions {
  framework?: FrameworkInfo
  /**
   * Whether the framework is loaded now (an app was created), which counts as
   * a server detected. A preload (`register`) knows only that it will be, so
   * the agent stands by for the first request instead.
   */
  frameworkLoaded?: boolean
  /** Names a request the integration could not name while it ran (its app was instrumented late). */
  routeResolver?: RouteResolver
  /** Finds a request's route params where the framework keeps them off `req` (see `ParamsResolver`). */
  paramsResolver?: ParamsResolver
  /** Names the handler of a request kept as a trace, where the integration did not while it ran (see `HandlerNamer`). */
  handlerNamer?: HandlerNamer
  /** Says what answered a request no route answered (see `UnroutedNamer`). */
  unroutedNamer?: UnroutedNamer
}

/** The process's agent, if one was created (by any copy of this package). */
export function getAgent(): Agent | undefined {
  return globalState().agent
}

/**
 * Creates the process's agent on first call (later calls return the same one,
 * whichever copy of the package makes them) and activates it: it starts,
 * stands by for the first request, or logs once why not. Never throws.
 */
export function install(options: InstallOptions = {}): Agent | undefined {
  try {
    const state = globalState()
    if (state.copies.size > 1 && !state.duplicateWarned && state.agent) {
      state.duplicateWarned = true
      const other = [...state.copies].find((c) => c !== state.owner)!
      // The ESM and CJS builds of one install are the dual-package case, not a second install.
      const sameInstall = dirname(other) === dirname(state.owner)
      state.agent.logger.report(sameInstall ? 'debug' : 'info', 'AGENT_DUPLICATE_COPY', state.owner, other)
    }
    const { framework, frameworkLoaded = true, routeResolver, paramsResolver, handlerNamer, unroutedNamer, creators, logWrite, ...configOptions } = options
    const existing = state.agent
    const agent = (state.agent ??= new Agent({ ...configOptions, ...(creators ? { creators } : {}), ...(logWrite ? { logWrite } : {}) }))
    if (existing) agent.applyCodeOptions(configOptions)
    if (framework && !agent.framework) agent.framework = framework
    // With a framework's integration, requests are named by their routes; the others were answered before any route.
    if (framework) agent.recorder.routesExpected = true
    if (routeResolver) agent.recorder.addRouteResolver(routeResolver)
    if (paramsResolver) agent.recorder.addParamsResolver(paramsResolver)
    if (handlerNamer) agent.recorder.addHandlerNamer(handlerNamer)
    if (unroutedNamer) agent.recorder.addUnroutedNamer(unroutedNamer)
    // A preload (frameworkLoaded false) may run before the app's environment is complete.
    agent.activate(framework && frameworkLoaded ? framework.name : undefined, !frameworkLoaded)
    noteActivationForDoctor({ pid: process.pid, ppid: process.ppid, role: agent.identity.role, state: agent.state })
    return agent
  } catch (err) {
    try {
      process.stderr.write(`[agent] error: AGENT_INSTALL_FAILED: ${messages.AGENT_INSTALL_FAILED(describeError(err))}\n`)
    } catch {}
    return undefined
  }
}

/**
 * The preload's entry: a child forked by a monitored parent that got the
 * agent in code installs it with the parent's code options.
 */
export function installInherited(env: NodeJS.ProcessEnv = process.env): Agent | undefined {
  let options: AgentOptions = {}
  try {
    options = JSON.parse(env[ENV_INHERITED_OPTIONS] ?? '{}') as AgentOptions
  } catch {
    // a malformed value: the child runs on its own configuration
  }
  // As a preload the environment may not be complete yet (PM2): read again at the first request if need be.
  return install({ ...options, frameworkLoaded: false })
}
