import childProcess, { type ChildProcess } from 'node:child_process'
import cluster, { type Worker } from 'node:cluster'
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { kForkHook, kForkWrapped as kWrapped } from './symbols.js'

/** Code options of the parent, for a child that gets the agent by preload. */
export const ENV_INHERITED_OPTIONS = 'AGENT_INHERITED_OPTIONS'

/** What the fork wrappers ask at each fork (implemented by `Agent`). */
export interface ForkObserver {
  /** Whether it takes part in forks now (started or standing by). */
  readonly observesForks: boolean
  /** Env the child gets, beside what the app passes. */
  childEnv(role: 'worker' | 'child'): Record<string, string>
  /** The preload to add to the child's execArgv, if the parent did not get the agent by a flag. */
  preload(): string | undefined
  onClusterFork(worker: Worker): void
  onChildFork(child: ChildProcess): void
}

/** The process's fork hook: installed once, asking the latest observer. */
interface ForkHookSlot {
  observer: ForkObserver | undefined
}

/**
 * The preload for children: src/preload.ts when running from source (tests
 * under tsx), else dist/preload.cjs, which shares the CommonJS build's chunks
 * so a CommonJS app shares one copy of the agent with it.
 */
export function preloadPath(): string {
  const here = import.meta.url
  const url = here.endsWith('.ts') ? new URL('./preload.ts', here) : new URL('./preload.cjs', here)
  return url.protocol === 'file:' ? fileURLToPath(url) : url.href
}

/**
 * Whether these Node flags already load the agent (a register or the core
 * preload), named by package (`@agent/express/register`) or by file path
 * (`./node_modules/@agent/express/dist/register.js`, a workspace path): then a
 * child inherits it and gets no second one.
 */
export function hasPreload(execArgv: readonly string[], path: string): boolean {
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!
    const inline = /^(?:--import|--require|-r)=(.+)$/.exec(arg)
    const spec = inline ? inline[1]! : /^(?:--import|--require|-r)$/.test(arg) ? execArgv[i + 1] : undefined
    if (spec === undefined) continue
    if (spec.includes(path) || /@agent\/[a-z]+\/register|@agent\/core\/preload/.test(spec) || isAgentFile(spec)) return true
  }
  return false
}

const agentFiles = new Map<string, boolean>()

/** A preload given by path that is a file of one of @agent's packages (by the nearest package.json's name). */
function isAgentFile(spec: string): boolean {
  let known = agentFiles.get(spec)
  if (known !== undefined) return known
  known = false
  try {
    let file = realpathSync(spec.startsWith('file:') ? fileURLToPath(spec) : createRequire(join(process.cwd(), 'noop.js')).resolve(spec))
    for (let depth = 0; depth < 6 && file !== dirname(file); depth++) {
      file = dirname(file)
      const pkg = join(file, 'package.json')
      if (!existsSync(pkg)) continue
      known = /^@agent\//.test(String((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name ?? ''))
      break
    }
  } catch {
    // not resolvable from here: not ours to judge
  }
  agentFiles.set(spec, known)
  return known
}

/**
 * Hooks cluster.fork and child_process.fork, once per process, for `observer`
 * (a later call only changes the observer). Neither has a public before-fork
 * point that can hand the child its env, so they are wrapped: idempotently,
 * with the agent's part guarded so it never raises, and the original called
 * with the app's arguments; a fork that fails fails exactly as it would
 * without the agent. After a fork, the parent registers the child.
 */
export function installForkHook(observer: ForkObserver): void {
  const g = globalThis as unknown as Record<symbol, ForkHookSlot | undefined>
  const slot = g[kForkHook]
  if (slot !== undefined) {
    slot.observer = observer
    return
  }
  const hook: ForkHookSlot = { observer }
  Object.defineProperty(globalThis, kForkHook, { value: hook, enumerable: false, configurable: true })
  const handlers = () => (hook.observer?.observesForks ? hook.observer : undefined)

  const clusterFork = cluster.fork as typeof cluster.fork & { [kWrapped]?: boolean }
  if (typeof clusterFork === 'function' && !clusterFork[kWrapped]) {
    const wrapped = function agentClusterFork(this: unknown, env?: NodeJS.ProcessEnv): Worker {
      let agentEnv: Record<string, string> | undefined
      try {
        const h = handlers()
        if (h) {
          agentEnv = h.childEnv('worker')
          const preload = h.preload()
          const execArgv = cluster.settings.execArgv ?? process.execArgv
          if (preload && !hasPreload(execArgv, preload)) cluster.setupPrimary({ execArgv: [...execArgv, '--import', preload] })
        }
      } catch {
        agentEnv = undefined
      }
      // The agent's variables win: a stale one inherited from a grandparent must not.
      const worker = clusterFork.call(this, agentEnv ? { ...env, ...agentEnv } : env)
      try {
        handlers()?.onClusterFork(worker)
      } catch {}
      return worker
    } as typeof cluster.fork & { [kWrapped]?: boolean }
    wrapped[kWrapped] = true
    cluster.fork = wrapped
  }

  const cpFork = childProcess.fork as typeof childProcess.fork & { [kWrapped]?: boolean }
  if (typeof cpFork === 'function' && !cpFork[kWrapped]) {
    const wrapped = function agentFork(this: unknown, modulePath: string | URL, ...rest: unknown[]): ChildProcess {
      let args = rest
      try {
        const h = handlers()
        if (h) args = withAgent(rest, h)
      } catch {
        args = rest
      }
      const child = (cpFork as (...a: unknown[]) => ChildProcess).call(this, modulePath, ...args)
      try {
        handlers()?.onChildFork(child)
      } catch {}
      return child
    } as unknown as typeof childProcess.fork & { [kWrapped]?: boolean }
    wrapped[kWrapped] = true
    childProcess.fork = wrapped
    // ESM apps that imported { fork } see the wrapper too.
    syncBuiltinESMExports()
  }
}

/** fork(modulePath[, args][, options]): the same arguments with the agent's env and preload added. */
function withAgent(rest: unknown[], h: ForkObserver): unknown[] {
  const args = [...rest]
  const optionsIndex = Array.isArray(args[0]) || (args[0] == null && args.length > 1) ? 1 : 0
  const given = args[optionsIndex]
  if (given != null && typeof given !== 'object') return rest // not a shape fork accepts: Node reports it
  const options = { ...(given as Record<string, unknown> | undefined) }
  options.env = { ...((options.env as NodeJS.ProcessEnv | undefined) ?? process.env), ...h.childEnv('child') }
  const preload = h.preload()
  const execArgv = (options.execArgv as string[] | undefined) ?? process.execArgv
  if (preload && !hasPreload(execArgv, preload)) options.execArgv = [...execArgv, '--import', preload]
  args[optionsIndex] = options
  return args
}

