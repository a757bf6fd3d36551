/** The layers a request's time is split into, beside the app's own code. */
export const LAYERS = ['http', 'postgresql', 'mysql', 'redis'] as const
export type Layer = (typeof LAYERS)[number]

export const layerIndex: Record<Layer, number> = { http: 0, postgresql: 1, mysql: 2, redis: 3 }

/**
 * One request's time inside each layer. Calls may overlap, within a layer
 * (`Promise.all` of queries) and across layers: each stretch of time is
 * counted once, shared equally by the layers busy in it, so the layers never
 * add up to more than the request's duration and the rest is the app's own.
 */
export class LayerClock {
  /** Calls in flight per layer. */
  private readonly active = new Uint16Array(LAYERS.length)
  private busyLayers = 0
  private lastMs = 0
  readonly timeMs = new Float64Array(LAYERS.length)
  readonly calls = new Uint32Array(LAYERS.length)

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
