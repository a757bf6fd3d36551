// Preloaded (--require) into every server that bench/instructions.mjs
// measures, in every configuration alike.
// BENCH_PROBE_MAJOR=1 (instruction runs): one line on stdout at each major GC
//   probe {"edge":"major"}
// so that a window can run from one major GC to the next (a whole GC cycle).
// BENCH_PROBE_GCS=1 (allocation runs): SIGUSR2 the first time (window start)
// writes the JS heap's bytes in use and starts a v8.GCProfiler; the second
// time (window end) writes the bytes in use and the GCs inside the window:
//   probe {"edge":"start","bytes":...}   probe {"edge":"end","bytes":...,"gcs":...}
// With no GC inside the window, end bytes - start bytes is what it allocated.
'use strict'
const v8 = require('node:v8')

/** Bytes in use in the JS heap, code spaces left out (those are compilation, not the app's allocation). */
function heapUsed() {
  let n = 0
  for (const s of v8.getHeapSpaceStatistics()) if (!s.space_name.startsWith('code')) n += s.space_used_size
  return n
}

if (require.main !== module && process.env.BENCH_PROBE_MAJOR === '1') {
  const { PerformanceObserver, constants } = require('node:perf_hooks')
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) process.stdout.write('probe {"edge":"major"}\n')
  }).observe({ entryTypes: ['gc'] })
}

if (require.main !== module && process.env.BENCH_PROBE_GCS === '1') {
  let profiler = null
  process.on('SIGUSR2', () => {
    if (!profiler) {
      const bytes = heapUsed()
      profiler = new v8.GCProfiler()
      profiler.start()
      process.stdout.write(`probe ${JSON.stringify({ edge: 'start', bytes })}\n`)
    } else {
      const bytes = heapUsed()
      const gcs = profiler.stop().statistics.length
      profiler = null
      process.stdout.write(`probe ${JSON.stringify({ edge: 'end', bytes, gcs })}\n`)
    }
  })
}

module.exports = { heapUsed }

// Run as a script (node <the same flags> --expose-gc probe.cjs): the method checked on a
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
  const profiler = new v8.GCProfiler()
  const n = Number(process.env.BENCH_PROBE_CHECK_N ?? 100_000)
  const before = heapUsed()
  profiler.start()
  make(n)
  const after = heapUsed()
  const gcs = profiler.stop().statistics.length
  const measured = (after - before) / n
  process.stdout.write(JSON.stringify({ expected, measured, gcs, ok: gcs === 0 && Math.abs(measured - expected) / expected < 0.01 }) + '\n')
}
