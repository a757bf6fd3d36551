import { hasPreload, preloadPath } from './fork-hook.js'
import { globalState } from './global-state.js'
import type { BullJob } from './bullmq-job.js'

/**
 * Sandboxed processors (a processor given as a file): BullMQ's `Child` runs
 * each in a forked process (`child_process.fork`, reached by the fork hook,
 * which gives it the agent, its role and the parent's instance id) or, with
 * `useWorkerThreads`, in a worker thread. Either way the job is measured
 * where the processor runs, by the agent there (`ChildProcessor`), and not in
 * the parent, so each is counted once.
 */

/** Env of a thread BullMQ starts for a sandboxed processor: monitored, as a child of this process. */
const THREAD_ENV = { AGENT_INSTRUMENT_WORKER_THREADS: 'true' }

/** `--require`/`-r` flags in `execArgv` that load the agent (Node runs `--require` preloads in worker threads, not `--import` ones). */
function requiresAgent(execArgv: readonly string[], path: string): boolean {
  const requires: string[] = []
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!
    if (/^(?:--require|-r)=/.test(arg)) requires.push(arg)
    else if ((arg === '--require' || arg === '-r') && execArgv[i + 1] !== undefined) requires.push(arg, execArgv[++i]!)
  }
  return requires.length > 0 && hasPreload(requires, path)
}

interface ChildOpts {
  useWorkerThreads?: unknown
  workerThreadsOptions?: { env?: unknown; execArgv?: unknown } & Record<string, unknown>
}

/**
 * Before BullMQ's `Child.init` starts a worker thread: the thread gets the
 * agent (the core preload by `--require`, unless a `--require` flag loads it
 * already), its role and the parent's instance id in its env, and
 * `instrumentWorkerThreads` on (for BullMQ's sandbox threads only: the app's
 * other threads stay unmonitored unless it asks). The app's options object
 * is copied, never changed. A forked child needs nothing here: the fork hook
 * does it.
 */
export function prepareThread(child: { opts?: ChildOpts }): void {
  try {
    const opts = child.opts
    if (!opts?.useWorkerThreads) return
    const agent = globalState().agent
    if (!agent?.observesForks) return
    const given = opts.workerThreadsOptions ?? {}
    const options: Record<string, unknown> = { ...given }
    if (typeof given.env !== 'symbol') {
      options.env = { ...((given.env as NodeJS.ProcessEnv | undefined) ?? process.env), ...agent.childEnv('child'), ...THREAD_ENV }
    }
    const preload = preloadPath()
    const execArgv = Array.isArray(given.execArgv) ? (given.execArgv as string[]) : process.execArgv.filter((a) => !a.startsWith('--inspect'))
    // From source (tests under tsx) the preload is TypeScript, which a thread cannot require.
    if (/\.c?js$/.test(preload) && !requiresAgent(execArgv, preload)) options.execArgv = [...execArgv, '--require', preload]
    child.opts = { ...opts, workerThreadsOptions: options }
  } catch {
    // the thread runs without the agent
  }
}

/** Errors of `ChildPool.retain`: the job never reached a child (a fork refused at a pids ceiling, a processor file that fails to load). */
export const neverStarted = new WeakSet<object>()

let lostSaid = false

/**
 * A child that exited mid-job took that job's measurement with it (its
 * earlier jobs went out at its exit, or at its last report if killed
 * outright): the parent says so, once.
 */
export function sayChildLost(job: BullJob, queue: unknown, error: unknown): void {
  try {
    const message = (error as { message?: unknown } | undefined)?.message
    if (lostSaid || typeof message !== 'string' || !message.startsWith('Unexpected exit code')) return
    lostSaid = true
    globalState().agent?.logger.warn(`a sandboxed BullMQ processor exited while running job ${String(job.id)} of ${String(queue)}/${String(job.name)} (${message}); that job's measurement is lost with its child. The child's earlier jobs count as far as it reported them; further losses are not logged.`)
  } catch {
    // never the worker's job
  }
}
