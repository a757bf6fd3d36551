import { kWrapSlots } from './symbols.js'

/**
 * Where the agent wraps a library's method (a driver's `query`): the wrapper
 * is installed once per prototype for every copy of the agent in the process,
 * and calls whichever instrumentation is current through this slot; with none
 * (the agent stopped) it is a plain pass-through.
 */
export interface WrapSlot<T> {
  target: T | undefined
}


type Fn = (this: unknown, ...args: unknown[]) => unknown
type WithSlots = { [kWrapSlots]?: Record<string, WrapSlot<unknown>> }

/**
 * Wraps `proto[method]` once (`make` gets the original and the slot) and
 * points its slot at `target`. The wrapper keeps the original's name and
 * length. False where the method is missing or cannot be replaced; never
 * throws.
 */
export function wrapMethod<T>(proto: object, method: string, target: T, make: (original: Fn, slot: WrapSlot<T>) => Fn): boolean {
  try {
    const p = proto as WithSlots & Record<string, unknown>
    const slots = Object.prototype.hasOwnProperty.call(p, kWrapSlots) ? p[kWrapSlots]! : undefined
    const existing = slots?.[method] as WrapSlot<T> | undefined
    if (existing !== undefined) {
      existing.target = target
      return true
    }
    const original = p[method]
    if (typeof original !== 'function') return false
    const slot: WrapSlot<T> = { target }
    const wrapper = make(original as Fn, slot)
    Object.defineProperty(wrapper, 'name', { value: original.name, configurable: true })
    Object.defineProperty(wrapper, 'length', { value: original.length, configurable: true })
    const descriptor = Object.getOwnPropertyDescriptor(p, method)
    Object.defineProperty(p, method, { value: wrapper, writable: descriptor?.writable ?? true, enumerable: descriptor?.enumerable ?? false, configurable: true })
    if (slots !== undefined) slots[method] = slot as WrapSlot<unknown>
    else Object.defineProperty(p, kWrapSlots, { value: { [method]: slot } })
    return true
  } catch {
    return false
  }
}

/** Points every slot of `proto` that names `target` at nothing: its wrappers pass through. */
export function releaseMethods(proto: object, target: unknown): void {
  const slots = Object.prototype.hasOwnProperty.call(proto, kWrapSlots) ? (proto as WithSlots)[kWrapSlots]! : undefined
  if (slots === undefined) return
  for (const slot of Object.values(slots)) if (slot.target === target) slot.target = undefined
}
