// Preloaded (--require) into every server that bench/instructions.mjs
// measures, in every configuration alike: it marks the edges of the window.
// The server runs with --expose-gc. SIGUSR2 the first time (window start): a
// full GC, so every window starts from the same heap, then one line on stdout
//   probe {"edge":"start","bytes":<JS heap bytes in use>}
// SIGUSR2 the second time (window end): the bytes in use before any GC, and
// with BENCH_PROBE_GCS=1 the number of GCs inside the window (v8.GCProfiler,
// started at the window's start), then a full GC:
//   probe {"edge":"end","bytes":...,"gcs":...}
// With no GC inside the window, end bytes - start bytes is what the window allocated.
// BENCH_PROBE_MAJOR=1 adds a line at each major GC after the start (see below).
'use strict'
const v8 = require('node:v8')

/** Bytes in use in the JS heap, code spaces left out (those are compilation, not the app's allocation). */
function heapUsed() {
  let n = 0
  for (const s of v8.getHeapSpaceStatistics()) if (!s.space_name.startsWith('code')) n += s.space_used_size
  return n
}

if (require.main !== module && typeof globalThis.gc === 'function') {
  let profiler = null
  let windowStart = Infinity
  // BENCH_PROBE_MAJOR=1: after the window's start, one line at each major GC V8 runs by itself
  //   probe {"edge":"major"}
  // (the instruction run ends its window there: one whole cycle from major GC to major GC).
  if (process.env.BENCH_PROBE_MAJOR === '1') {
    const { PerformanceObserver, constants } = require('node:perf_hooks')
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR && e.startTime > windowStart) process.stdout.write('probe {"edge":"major"}\n')
      }
    }).observe({ entryTypes: ['gc'] })
  }
  process.on('SIGUSR2', () => {
    if (!profiler) {
      globalThis.gc()
      windowStart = performance.now()
      const bytes = heapUsed()
      profiler = process.env.BENCH_PROBE_GCS === '1' ? new v8.GCProfiler() : {}
      profiler.start?.()
      process.stdout.write(`probe ${JSON.stringify({ edge: 'start', bytes })}\n`)
    } else {
      const bytes = heapUsed()
      const stats = profiler.stop?.()
      profiler = null
      globalThis.gc()
      process.stdout.write(`probe ${JSON.stringify({ edge: 'end', bytes, gcs: stats ? stats.statistics.length : null })}\n`)
    }
  })
}

module.exports = { heapUsed }

// Run as a script (node <the same flags> probe.cjs): the method checked on a
// known allocation. 100,000 arrays of 100 holes, each a JSArray (4 fields) and
// a FixedArray (map, length, 100 elements), kept alive in a ring so the JIT
// cannot elide them: 8 bytes a field without pointer compression, 4 with it.
if (require.main === module) {
  const word = process.config.variables.v8_enable_pointer_compression ? 4 : 8
  const expected = 4 * word + (2 + 100) * word
  const ring = new Array(1024).fill(null)
  const make = (n) => { for (let i = 0; i < n; i++) ring[i & 1023] = new Array(100) }
  make(100_000) // warm up: the same code, optimized, as in the window
  globalThis.gc()
  let gcs = 0
  const profiler = new v8.GCProfiler()
  const n = Number(process.env.BENCH_PROBE_CHECK_N ?? 100_000)
  const before = heapUsed()
  profiler.start()
  make(n)
  const after = heapUsed()
  gcs = profiler.stop().statistics.length
  const measured = (after - before) / n
  process.stdout.write(JSON.stringify({ expected, measured, gcs, ok: gcs === 0 && Math.abs(measured - expected) / expected < 0.01 }) + '\n')
}
