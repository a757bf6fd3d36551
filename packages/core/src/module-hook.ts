import Module from 'node:module'
import { sep } from 'node:path'
import { kModuleLoadHook } from './symbols.js'

/**
 * Told each time a module of its package is loaded (its exports), and once
 * for each one already loaded when it starts watching. It looks for what it
 * instruments in whatever exports it is given: most are not its concern.
 */
export type ModuleWatcher = (exports: unknown) => void

interface HookSlot {
  /** Watchers by package name (`pg`, `@redis/client`). */
  watchers: Map<string, Set<ModuleWatcher>>
}


type LoadFn = (request: string, parent: { filename?: string | null } | null | undefined, isMain: boolean) => unknown
type ModuleInternals = { _load?: LoadFn; _cache?: Record<string, { exports?: unknown; loaded?: boolean } | undefined>; [kModuleLoadHook]?: HookSlot }

const NODE_MODULES = `${sep}node_modules${sep}`

/** `pg`, `@redis/client`: the package a bare request (`pg`, `pg/lib/client`) names. */
function bareName(request: string): string {
  const slash = request.indexOf('/')
  if (slash === -1) return request
  if (request.charCodeAt(0) !== 64 /* @ */) return request.slice(0, slash)
  const second = request.indexOf('/', slash + 1)
  return second === -1 ? request : request.slice(0, second)
}

/** The package a file inside some `node_modules` belongs to; undefined for the app's own files. */
function packageOfFile(filename: string): string | undefined {
  const at = filename.lastIndexOf(NODE_MODULES)
  if (at === -1) return undefined
  const rest = filename.slice(at + NODE_MODULES.length)
  const first = rest.indexOf(sep)
  if (first === -1) return undefined
  if (rest.charCodeAt(0) !== 64 /* @ */) return rest.slice(0, first)
  const second = rest.indexOf(sep, first + 1)
  return second === -1 ? undefined : rest.slice(0, second).replace(sep, '/')
}

/**
 * The package a `Module._load` call loads from: named by a bare request, by
 * an absolute file name (how Node's ESM loader loads a CommonJS package), or,
 * for a relative request, the package of the file that asks. String work
 * only: nothing is resolved.
 */
function packageOf(request: string, parent: { filename?: string | null } | null | undefined): string | undefined {
  const c = request.charCodeAt(0)
  if (c === 46 /* . */) return typeof parent?.filename === 'string' ? packageOfFile(parent.filename) : undefined
  if (c === 47 /* / */ || (sep === '\\' && request.charCodeAt(1) === 58 /* C: */)) return packageOfFile(request)
  if (request.startsWith('node:')) return undefined
  return bareName(request)
}

function notify(slot: HookSlot, name: string | undefined, exports: unknown): void {
  if (name === undefined) return
  const watchers = slot.watchers.get(name)
  if (watchers === undefined) return
  for (const watcher of watchers) {
    try {
      watcher(exports)
    } catch {
      // a watcher never breaks the app's require
    }
  }
}

/** The hook of the process, installed at first need; undefined where `Module._load` cannot be wrapped. */
function hookSlot(): HookSlot | undefined {
  const M = Module as unknown as ModuleInternals
  const existing = M[kModuleLoadHook]
  if (existing !== undefined) return existing
  const original = M._load
  if (typeof original !== 'function') return undefined
  const slot: HookSlot = { watchers: new Map() }
  Object.defineProperty(M, kModuleLoadHook, { value: slot })
  // One wrapper for every require and every CommonJS module the ESM loader
  // loads (Node 20 to 26 load both through `Module._load`). The app's own
  // errors pass through untouched; the cost per require while no watched
  // package is loaded is a map lookup.
  M._load = function load(this: unknown, request: string, parent: { filename?: string | null } | null | undefined, isMain: boolean) {
    const exports = original.apply(this, arguments as unknown as Parameters<LoadFn>)
    if (slot.watchers.size > 0) {
      try {
        if (typeof request === 'string') notify(slot, packageOf(request, parent), exports)
      } catch {
        // never the app's require
      }
    }
    return exports
  }
  return slot
}

/**
 * Tells `watcher` of every module of `name` loaded from now on, and at once
 * of those already loaded (an app that loaded its driver before the agent).
 * Idempotent; never throws. Returns the function that stops watching.
 */
export function watchPackage(name: string, watcher: ModuleWatcher): () => void {
  try {
    const slot = hookSlot()
    if (slot === undefined) return () => {}
    let set = slot.watchers.get(name)
    if (set === undefined) slot.watchers.set(name, (set = new Set()))
    set.add(watcher)
    const cache = (Module as unknown as ModuleInternals)._cache
    if (cache !== undefined) {
      for (const filename of Object.keys(cache)) {
        const loaded = cache[filename]
        if (loaded?.loaded && packageOfFile(filename) === name) notify({ watchers: new Map([[name, new Set([watcher])]]) }, name, loaded.exports)
      }
    }
    return () => {
      set.delete(watcher)
      if (set.size === 0 && slot.watchers.get(name) === set) slot.watchers.delete(name)
    }
  } catch {
    return () => {}
  }
}
