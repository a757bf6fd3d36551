import { kExitHook } from './symbols.js'

type Signal = 'SIGTERM' | 'SIGINT'
const SIGNALS: Signal[] = ['SIGTERM', 'SIGINT']

/** What the exit hook asks of the agent it was handed (implemented by `Agent`). */
export interface ExitFlushes {
  /** `beforeExit` and signals: one bounded delivery of what is recorded. */
  deliverBeforeExit(): Promise<void>
  /** The 'exit' event, where nothing async runs any more: send what is unsent, synchronously. */
  sendUnsentAtExit(): void
}

/**
 * One exit hook per process (its slot is in symbols.ts), so stopping and
 * starting the agent (or loading two copies of it) never stacks listeners.
 *
 * It delivers the agent's data on `beforeExit` and on SIGTERM/SIGINT (and, at
 * `process.exit()`, what no delivery has sent yet) without changing what the
 * app would do without it:
 * - a signal the app handles itself: the app's handler runs and decides; the
 *   agent only starts its bounded delivery alongside;
 * - a signal nobody else handles: the agent delivers (bounded by
 *   shutdownTimeoutMs), removes its listeners and re-raises the signal, so
 *   the process still ends by that signal with the default exit status.
 */
export class ExitHook {
  private agent: ExitFlushes | undefined = undefined
  private reraising = false
  private readonly onBeforeExit = () => {
    void this.agent?.deliverBeforeExit()
  }
  private readonly onExit = () => {
    this.agent?.sendUnsentAtExit()
  }
  private readonly onSignal = (signal: Signal) => {
    const appHandles = process.listeners(signal).some((l) => l !== this.onSignal)
    const delivery = this.agent?.deliverBeforeExit() ?? Promise.resolve()
    if (appHandles) return
    if (this.reraising) {
      // A second signal while delivering: the user means it, stop waiting.
      this.reraise(signal)
      return
    }
    this.reraising = true
    const reraise = () => this.reraise(signal)
    delivery.then(reraise, reraise)
  }

  /** Listens for the exit paths on behalf of `agent`. Idempotent. */
  install(agent: ExitFlushes): void {
    const installed = this.agent !== undefined
    this.agent = agent
    if (installed) return
    process.on('beforeExit', this.onBeforeExit)
    process.on('exit', this.onExit)
    for (const s of SIGNALS) process.on(s, this.onSignal)
  }

  uninstall(): void {
    if (this.agent === undefined) return
    this.agent = undefined
    process.removeListener('beforeExit', this.onBeforeExit)
    process.removeListener('exit', this.onExit)
    for (const s of SIGNALS) process.removeListener(s, this.onSignal)
  }

  private reraise(signal: Signal): void {
    this.uninstall()
    process.kill(process.pid, signal)
  }
}

/** The process's exit hook, created on first use. */
export function processExitHook(): ExitHook {
  const g = globalThis as unknown as Record<symbol, ExitHook | undefined>
  let hook = g[kExitHook]
  if (hook === undefined) {
    hook = new ExitHook()
    Object.defineProperty(globalThis, kExitHook, { value: hook, enumerable: false, configurable: true })
  }
  return hook
}
