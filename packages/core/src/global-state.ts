import type { Agent } from './agent.js'
import type { ExitHook } from './exit-hook.js'

const KEY = Symbol.for('@agent/core.state')

/**
 * Process-wide state under a registered symbol, so every copy of this package
 * loaded in the process (ESM and CJS builds, two installed versions) shares
 * one agent, one exit hook and one fork hook.
 */
export interface GlobalState {
  /** Identifies the first copy that created the state. */
  owner: string
  copies: Set<string>
  agent?: Agent
  exitHook?: ExitHook
  forkHookInstalled?: boolean
  /** Listener counts etc. a test may need to look at; never app-visible. */
  extra: Record<string, unknown>
}

/** This copy of the package: the bundle file it was loaded from. */
const COPY = import.meta.url

export function globalState(copy = COPY): GlobalState {
  const g = globalThis as unknown as Record<symbol, GlobalState | undefined>
  let state = g[KEY]
  if (state === undefined) {
    state = { owner: copy, copies: new Set([copy]), extra: {} }
    Object.defineProperty(globalThis, KEY, { value: state, enumerable: false, configurable: true })
  } else {
    state.copies.add(copy)
  }
  return state
}
