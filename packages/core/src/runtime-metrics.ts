import { getHeapStatistics } from 'node:v8'
import { monitorEventLoopDelay, performance, PerformanceObserver, type IntervalHistogram, type EventLoopUtilization } from 'node:perf_hooks'

export interface RuntimeSnapshot {
  eventLoopDelayMs: { min: number; mean: number; p50: number; p99: number; max: number }
  eventLoopUtilization: number
  heapUsedBytes: number
  /** V8's heap size limit (`heap_size_limit`: --max-old-space-size and the young space). */
  heapLimitBytes: number
  externalBytes: number
  rssBytes: number
  cpuUserMs: number
  cpuSystemMs: number
  /** CPU time over wall time since the last sample, 1.0 = one core. */
  cpuUtilization: number
  gcCount: number
  gcPauseMs: number
}

/**
 * Samples runtime health between two collects. Nothing here keeps the event
 * loop alive: the delay monitor's timer and the GC observer are unref'd by Node.
 */
export class RuntimeSampler {
  private delay: IntervalHistogram | undefined
  private gc: PerformanceObserver | undefined
  private gcCount = 0
  private gcPauseMs = 0
  private lastElu: EventLoopUtilization | undefined
  private lastCpu = process.cpuUsage()
  private lastAt = performance.now()

  start(): void {
    if (this.delay) return
    this.delay = monitorEventLoopDelay({ resolution: 20 })
    this.delay.enable()
    this.lastElu = performance.eventLoopUtilization()
    this.lastCpu = process.cpuUsage()
    this.lastAt = performance.now()
    try {
      this.gc = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          this.gcCount++
          this.gcPauseMs += entry.duration
        }
      })
      this.gc.observe({ entryTypes: ['gc'] })
    } catch {
      this.gc = undefined // GC stats are optional
    }
  }

  stop(): void {
    this.delay?.disable()
    this.delay = undefined
    this.gc?.disconnect()
    this.gc = undefined
  }

  collect(): RuntimeSnapshot {
    const now = performance.now()
    const elu = performance.eventLoopUtilization(this.lastElu)
    this.lastElu = performance.eventLoopUtilization()
    const cpu = process.cpuUsage(this.lastCpu)
    this.lastCpu = process.cpuUsage()
    const wallMs = Math.max(now - this.lastAt, 1)
    this.lastAt = now
    const d = this.delay
    const ns = 1e-6
    const delay = d && d.count > 0
      ? { min: d.min * ns, mean: d.mean * ns, p50: d.percentile(50) * ns, p99: d.percentile(99) * ns, max: d.max * ns }
      : { min: 0, mean: 0, p50: 0, p99: 0, max: 0 }
    d?.reset()
    const mem = process.memoryUsage()
    const snapshot: RuntimeSnapshot = {
      eventLoopDelayMs: delay,
      eventLoopUtilization: elu.utilization,
      heapUsedBytes: mem.heapUsed,
      heapLimitBytes: getHeapStatistics().heap_size_limit,
      externalBytes: mem.external,
      rssBytes: mem.rss,
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      cpuUtilization: (cpu.user + cpu.system) / 1000 / wallMs,
      gcCount: this.gcCount,
      gcPauseMs: this.gcPauseMs,
    }
    this.gcCount = 0
    this.gcPauseMs = 0
    return snapshot
  }
}
