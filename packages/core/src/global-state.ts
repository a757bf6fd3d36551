import type { Agent } from './agent.js'
import { kGlobalState } from './symbols.js'

/**
 * The process's agent, shared by every copy of this package loaded in the
 * process (ESM and CJS builds, two installed versions). Read and written only
 * by install.ts; other process-wide slots are listed in symbols.ts.
 */
export interface GlobalState {
  /** Identifies the first copy that created the state. */
  owner: string
  copies: Set<string>
  agent?: Agent
  duplicateWarned: boolean
}

/** This copy of the package: the bundle file it was loaded from. */
const COPY = import.meta.url

export function globalState(copy = COPY): GlobalState {
  const g = globalThis as unknown as Record<symbol, GlobalState | undefined>
  let state = g[kGlobalState]
  if (state === undefined) {
    state = { owner: copy, copies: new Set([copy]), duplicateWarned: false }
    Object.defineProperty(globalThis, kGlobalState, { value: state, enumerable: false, configurable: true })
  } else {
    state.copies.add(copy)
  }
  return state
}
