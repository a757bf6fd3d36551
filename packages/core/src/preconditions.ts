import { basename } from 'node:path'
import { isMainThread } from 'node:worker_threads'
import type { AgentConfig } from './config.js'

export type Verdict =
  | { start: true; why: string }
  /** `misconfigured`: the agent cannot run as configured (logged as a warning, not as information). */
  | { start: false; standby: boolean; reason: string; misconfigured?: boolean }

/** Tools that load app code but serve nothing: the agent never starts in them. */
const CLI_TOOLS = new Set(['npm', 'npx', 'pnpm', 'yarn', 'tsc', 'tsup', 'eslint', 'prettier', 'turbo', 'node-gyp', 'corepack', 'npm-cli.js', 'npx-cli.js', 'pnpm.cjs', 'yarn.js'])

/** A listening TCP server in this process. */
export function serverListening(): boolean {
  try {
    return process.getActiveResourcesInfo().includes('TCPServerWrap')
  } catch {
    return false
  }
}

export interface PreconditionInput {
  config: AgentConfig
  started: boolean
  /** An integration saw its framework create an app. */
  frameworkDetected?: string
  role?: string
  argv?: string[]
}

/** The first unmet precondition, in the order a user would fix them. */
export function checkPreconditions(input: PreconditionInput): Verdict {
  const { config } = input
  const argv = input.argv ?? process.argv
  if (!config.monitor) return { start: false, standby: false, reason: 'monitoring is off ("monitor" is false)' }
  const missing = [
    ...(config.name ? [] : ['no application name (set "name", AGENT_NAME)']),
    ...(config.endpoint ? [] : ['no valid endpoint (set "endpoint", AGENT_ENDPOINT, to the collector\'s http:// or https:// URL)']),
  ]
  if (missing.length > 0) return { start: false, standby: false, misconfigured: true, reason: missing.join('; ') }
  if (!isMainThread && !config.instrumentWorkerThreads) {
    return { start: false, standby: false, reason: 'inside a worker thread; set "instrumentWorkerThreads" to monitor worker threads' }
  }
  // A worker thread's argv holds only the node binary: it is no REPL, and its process passed the CLI check.
  if (isMainThread) {
    const script = argv[1]
    if (script === undefined || script === '' || script === '-') {
      if (!config.forceStart) return { start: false, standby: false, reason: 'running in a REPL or an eval script; set "forceStart" to monitor it anyway' }
    } else {
      const tool = basename(script).replace(/\.(c|m)?js$/, '')
      if (CLI_TOOLS.has(tool) || CLI_TOOLS.has(basename(script))) return { start: false, standby: false, reason: `running inside the ${tool} command-line tool` }
    }
  }
  if (input.started) return { start: false, standby: false, reason: 'already started' }
  if (config.forceStart) return { start: true, why: 'forceStart' }
  if (input.role === 'worker' || input.role === 'child') return { start: true, why: `${input.role} of a monitored parent` }
  if (input.frameworkDetected) return { start: true, why: `${input.frameworkDetected} detected` }
  if (serverListening()) return { start: true, why: 'HTTP server detected' }
  return { start: false, standby: true, reason: 'no HTTP server detected yet' }
}
