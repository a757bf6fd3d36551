import { globalState } from './global-state.js'

type Signal = 'SIGTERM' | 'SIGINT'
const SIGNALS: Signal[] = ['SIGTERM', 'SIGINT']

/**
 * One exit hook per process, kept in the global state, so stopping and
 * starting the agent (or loading two copies of it) never stacks listeners.
 *
 * It flushes the agent on `beforeExit` and on SIGTERM/SIGINT (and, at
 * `process.exit()`, what no flush has sent yet) without changing
 * what the app would do without it:
 * - a signal the app handles itself: the app's handler runs and decides; the
 *   agent only starts its bounded flush alongside;
 * - a signal nobody else handles: the agent flushes (bounded by
 *   shutdownTimeoutMs), removes its listeners and re-raises the signal, so
 *   the process still ends by that signal with the default exit status.
 */
export class ExitHook {
  private installed = false
  private reraising = false
  private readonly onBeforeExit = () => {
    void this.flush('beforeExit')
  }
  private readonly onExit = () => {
    this.flushSync()
  }
  private readonly onSignal = (signal: Signal) => {
    const appHandles = process.listeners(signal).some((l) => l !== this.onSignal)
    if (appHandles) {
      void this.flush(signal)
      return
    }
    if (this.reraising) {
      // A second signal while flushing: the user means it, stop waiting.
      this.reraise(signal)
      return
    }
    this.reraising = true
    this.flush(signal).then(
      () => this.reraise(signal),
      () => this.reraise(signal),
    )
  }

  constructor(
    private readonly flush: (reason: string) => Promise<void>,
    /** For `process.exit()`, where nothing async runs any more. */
    private readonly flushSync: () => void = () => {},
  ) {}

  install(): void {
    if (this.installed) return
    this.installed = true
    process.on('beforeExit', this.onBeforeExit)
    process.on('exit', this.onExit)
    for (const s of SIGNALS) process.on(s, this.onSignal)
  }

  uninstall(): void {
    if (!this.installed) return
    this.installed = false
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
  const state = globalState()
  if (!state.exitHook) {
    state.exitHook = new ExitHook(
      async (reason) => {
        await globalState().agent?.flushForExit(reason)
      },
      () => globalState().agent?.flushAtExit(),
    )
  }
  return state.exitHook
}
