/** The layers a request's time is split into, beside the app's own code. */
export const LAYERS = ['http', 'postgresql', 'mysql', 'redis'] as const
export type Layer = (typeof LAYERS)[number]

/** LayerClock's array literals have this many slots: adding a layer makes this a type error until they match. */
const SLOTS: (typeof LAYERS)['length'] = 4
void SLOTS

export const layerIndex: Record<Layer, number> = { http: 0, postgresql: 1, mysql: 2, redis: 3 }

/**
 * One request's time inside each layer. Calls may overlap, within a layer
 * (`Promise.all` of queries) and across layers: each stretch of time is
 * counted once, shared equally by the layers busy in it, so the layers never
 * add up to more than the request's duration and the rest is the app's own.
 */
export class LayerClock {
  // Plain arrays, one slot per layer: a request allocates them, and typed arrays cost several times more to make.
  /** Calls in flight per layer. */
  private readonly active = [0, 0, 0, 0]
  private busyLayers = 0
  private lastMs = 0
  readonly timeMs = [0, 0, 0, 0]
  readonly calls = [0, 0, 0, 0]

  begin(layer: number, nowMs: number): void {
    this.advance(nowMs)
    this.calls[layer]!++
    if (this.active[layer]!++ === 0) this.busyLayers++
  }

  end(layer: number, nowMs: number): void {
    if (this.active[layer] === 0) return
    this.advance(nowMs)
    if (--this.active[layer]! === 0) this.busyLayers--
  }

  /** Credits the time since the last event to the layers busy in it. */
  advance(nowMs: number): void {
    if (this.busyLayers > 0 && nowMs > this.lastMs) {
      const share = (nowMs - this.lastMs) / this.busyLayers
      for (let i = 0; i < LAYERS.length; i++) if (this.active[i]! > 0) this.timeMs[i]! += share
    }
    if (nowMs > this.lastMs) this.lastMs = nowMs
  }
}
