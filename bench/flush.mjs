#!/usr/bin/env node
// Event-loop time of the once-per-interval work, the part a request waiting
// behind it feels: encoding an interval (1, 50 and 500 active endpoints) at
// once and in the agent's 1 ms slices (the longest slice is what a request
// can wait), a cluster worker's hand-over (taking its data and serializing
// it for IPC) and the primary's merge of it. Medians over repeats, in ms.
//   node flush.mjs [--repeats 30]
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { Aggregator, MetricsEncoding, encodeMetrics, newIdentity, resourceAttributes } from '@agent/core/internal'

const { values: opt } = parseArgs({ options: { repeats: { type: 'string', default: '30' } } })
const repeats = Number(opt.repeats)
const resource = resourceAttributes({ serviceName: 'bench', identity: newIdentity() })

/** An interval as a busy app makes it: `endpoints` routes, 200 requests each, latencies spread. */
function interval(endpoints) {
  const agg = new Aggregator(1000)
  for (let e = 0; e < endpoints; e++) for (let i = 0; i < 200; i++) agg.record('GET', `/route-${e}/:id`, 0.001 + ((i * 7919) % 997) / 1e4, i % 50 === 0, false)
  return agg
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function time(fn) {
  const samples = []
  for (let i = 0; i < repeats; i++) {
    const prepared = fn.prepare()
    const t0 = performance.now()
    fn.run(prepared)
    samples.push(performance.now() - t0)
  }
  return { median: median(samples), max: Math.max(...samples) }
}

const rows = []
for (const endpoints of [1, 50, 500]) {
  const encode = time({ prepare: () => interval(endpoints).drain(), run: (snapshot) => Buffer.from(encodeMetrics({ resource, interval: snapshot })) })
  const bytes = Buffer.byteLength(encodeMetrics({ resource, interval: interval(endpoints).drain() }))
  // As the agent runs it: slices of 1 ms, then the pieces joined and made a Buffer (the last block).
  const slices = []
  for (let r = 0; r < repeats; r++) {
    const encoding = new MetricsEncoding({ resource, interval: interval(endpoints).drain() })
    let longest = 0
    for (;;) {
      const t0 = performance.now()
      const done = encoding.step(1)
      if (done) encoding.result()
      longest = Math.max(longest, performance.now() - t0)
      if (done) break
    }
    slices.push(longest)
  }
  // What one hand-over costs the worker: take the data and serialize it as IPC does (JSON).
  const handOver = time({ prepare: () => interval(endpoints), run: (agg) => JSON.stringify({ cmd: 'NODE_AGENT', type: 'interval', seq: 1, resource, interval: agg.drain(), final: false }) })
  const merge = time({ prepare: () => JSON.parse(JSON.stringify(interval(endpoints).drain())), run: (snapshot) => new Aggregator(1000).merge(snapshot) })
  rows.push({ endpoints, encodeMs: encode.median, encodeMaxMs: encode.max, sliceMs: median(slices), sliceMaxMs: Math.max(...slices), payloadBytes: bytes, handOverMs: handOver.median, mergeMs: merge.median })
}
process.stdout.write('| active endpoints | encode at once (median / max ms) | longest 1 ms slice (median / max ms) | JSON bytes | worker hand-over (ms) | primary merge per worker (ms) |\n|---:|---:|---:|---:|---:|---:|\n')
for (const r of rows) process.stdout.write(`| ${r.endpoints} | ${r.encodeMs.toFixed(2)} / ${r.encodeMaxMs.toFixed(2)} | ${r.sliceMs.toFixed(2)} / ${r.sliceMaxMs.toFixed(2)} | ${r.payloadBytes} | ${r.handOverMs.toFixed(2)} | ${r.mergeMs.toFixed(2)} |\n`)
