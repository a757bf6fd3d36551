#!/usr/bin/env node
// Event-loop time of the once-per-interval work, the part a request waiting
// behind it feels, at 1, 50 and 500 active endpoints: a report as the agent
// makes it (taking the interval from the aggregator, then encoding it in the
// agent's 1 ms slices), its total and its longest slice, in JSON and in
// protobuf; the same encoded at once; the bytes of both, and gzip'd as the
// exporter sends them (up to GZIP_ON_LOOP_MAX_BYTES on the loop, in the last
// turn here, larger bodies in libuv's threadpool, off the loop), and the
// taking of the interval alone. A cluster worker's hand-over and the primary's
// merge are hand-off.mjs's (over real IPC). Medians over repeats, in ms (wall time: on a
// busy machine other processes preempting the thread inflate it; this
// machine's thread CPU clocks count in 4 ms ticks, too coarse to use).
//   node flush.mjs [--repeats 30]
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { gzipSync } from 'node:zlib'
import { Aggregator, CONFIG_SPEC, GZIP_ON_LOOP_MAX_BYTES, MetricsEncoding, metricsBody, newIdentity, resourceAttributes } from '@agent/core/internal'

const { values: opt } = parseArgs({ options: { repeats: { type: 'string', default: '30' } } })
const repeats = Number(opt.repeats)
const resource = resourceAttributes({ serviceName: 'bench', identity: newIdentity() })
const PROTOCOLS = ['http/json', 'http/protobuf']
const COMPRESS_MIN_BYTES = CONFIG_SPEC.compressMinBytes.default
/** The agent's slice (sliced-reports.ts). */
const SLICE_MS = 1

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
  return median(samples)
}

/**
 * One report as the agent makes it (agent.ts, sliced-reports.ts): the time
 * of each turn of the event loop it takes. The first takes the interval and
 * builds the payload's skeleton, the next ones encode the endpoints in
 * slices, the last one joins the body.
 */
function report(endpoints, protocol) {
  const agg = interval(endpoints)
  let t0 = performance.now()
  const encoding = new MetricsEncoding({ resource, interval: agg.drain() }, protocol)
  const turns = [performance.now() - t0]
  for (let done = false; !done;) {
    t0 = performance.now()
    done = encoding.step(SLICE_MS)
    if (done) {
      const body = encoding.result()
      if (body.length >= COMPRESS_MIN_BYTES && body.length <= GZIP_ON_LOOP_MAX_BYTES) gzipSync(body)
    }
    turns.push(performance.now() - t0)
  }
  return turns
}

const rows = []
for (const endpoints of [1, 50, 500]) {
  const row = { endpoints, take: time({ prepare: () => interval(endpoints), run: (agg) => agg.drain() }) }
  for (const protocol of PROTOCOLS) {
    const reports = Array.from({ length: repeats }, () => report(endpoints, protocol))
    const body = metricsBody({ resource, interval: interval(endpoints).drain() }, protocol)
    row[protocol] = {
      total: median(reports.map((turns) => turns.reduce((a, b) => a + b))),
      longest: median(reports.map((turns) => Math.max(...turns))),
      turns: median(reports.map((turns) => turns.length)),
      atOnce: time({ prepare: () => interval(endpoints).drain(), run: (snapshot) => metricsBody({ resource, interval: snapshot }, protocol) }),
      bytes: body.length,
      gzipBytes: gzipSync(body).length,
    }
  }
  rows.push(row)
}

const f = (ms) => ms.toFixed(2)
const n = (bytes) => bytes.toLocaleString('en-US')
process.stdout.write(`Node ${process.versions.node}, medians of ${repeats}. A report: taking the interval and the payload's skeleton in one turn of the event loop, then the endpoints in ${SLICE_MS} ms slices, one per turn; a body of at most ${GZIP_ON_LOOP_MAX_BYTES / 1024} KB is gzip'd in the last.\n\n`)
process.stdout.write('| active endpoints | protocol | report: event-loop time in total (ms) | longest turn (ms) | turns | encode at once (ms) | bytes | gzip\'d bytes |\n|---:|---|---:|---:|---:|---:|---:|---:|\n')
for (const r of rows) {
  for (const protocol of PROTOCOLS) {
    const p = r[protocol]
    process.stdout.write(`| ${r.endpoints} | ${protocol} | ${f(p.total)} | ${f(p.longest)} | ${p.turns} | ${f(p.atOnce)} | ${n(p.bytes)} | ${n(p.gzipBytes)} |\n`)
  }
}
process.stdout.write('\n| active endpoints | taking the interval (ms) |\n|---:|---:|\n')
for (const r of rows) process.stdout.write(`| ${r.endpoints} | ${f(r.take)} |\n`)
