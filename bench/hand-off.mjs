#!/usr/bin/env node
// What a cluster hand-off costs, over a real IPC channel to real cluster
// workers (JSON serialization, Node's default), side by side in one run:
//   before: the form before issue 18's hand-off work (the interval snapshot as
//           JSON, merged as the primary did then; reproduced below, as of 9dcf8bf);
//   packed: the agent's WorkerLink and ClusterHub as they are now.
// Per hand-off with 1, 50 and 500 active endpoints (`--requests` each, latencies
// spread as in flush.mjs): the message's bytes; the worker's CPU to take its
// interval and hand it over (Aggregator.drain, serializing, process.send until
// its callback), by process.cpuUsage in the worker; the primary's CPU from
// asking for the hand-off until it is merged (reading the channel, parsing,
// merging), by process.cpuUsage in the primary, which does nothing else
// meanwhile; and with `--workers` workers handing over at once, the primary's
// CPU for all of them: its merge ms per second at one hand-off a second; and
// its CPU at a report to take their merged intervals (drains; before, each
// drain copied its buckets; now the hub copies and keeps its stats).
// The primary reports (drains its aggregators, acknowledges) every
// `--report-every` hand-offs: 60 as at the agent's default report interval,
// 1 for a 1 s report interval, where every merge starts from empty histograms
// (the costliest case). Medians (and maxima) over `--repeats`.
//   node hand-off.mjs [--repeats 30] [--requests 200] [--workers 8] [--report-every 60] [--endpoints 1,50,500] [--forms before,packed]
import cluster from 'node:cluster'
import { parseArgs } from 'node:util'
import { Aggregator, ClusterHub, Logger, WorkerLink, newIdentity, resourceAttributes } from '@agent/core/internal'

const BEFORE_CMD = 'NODE_AGENT_BEFORE'

function fill(aggregator, endpoints, requests) {
  for (let e = 0; e < endpoints; e++) for (let i = 0; i < requests; i++) aggregator.record('GET', `/route-${e}/:id`, 0.001 + ((i * 7919) % 997) / 1e4, i % 50 === 0, false)
}

if (cluster.isWorker) runWorker()
else await runPrimary()

function runWorker() {
  const identity = newIdentity()
  const resource = resourceAttributes({ serviceName: 'bench', identity })
  const logger = new Logger('warn')
  const link = new WorkerLink(identity.instanceId, { handOnInterval() {} }, logger)
  link.start()
  let aggregator = new Aggregator(1000)
  // The worker side before: every hand-over kept until acknowledged, then sent whole.
  let beforeSeq = 0
  let beforeKept = []
  const handOverBefore = (final, data) => {
    const seq = ++beforeSeq
    beforeKept.push({ from: seq, through: seq, interval: data.interval })
    return new Promise((resolve) => {
      try {
        process.send({ cmd: BEFORE_CMD, type: 'interval', seq, final, ...data }, undefined, { swallowErrors: true }, (err) => resolve(!err))
      } catch {
        resolve(false)
      }
    })
  }
  process.on('message', async (m) => {
    if (m.bench === 'fill') {
      beforeKept = [] // as an acknowledgement would
      fill(aggregator, m.endpoints, m.requests)
      process.send({ bench: 'filled' })
    } else if (m.bench === 'go') {
      const t0 = process.cpuUsage()
      // Before, a drain copied every histogram's buckets; now it hands them over.
      let interval
      if (m.form === 'before') {
        interval = aggregator.snapshot()
        aggregator = new Aggregator(1000)
      } else interval = aggregator.drain()
      const data = { instanceId: identity.instanceId, resource, interval }
      const written = await (m.form === 'before' ? handOverBefore(false, data) : link.handOver(false, data))
      const cpu = process.cpuUsage(t0)
      process.send({ bench: 'done', written, cpuMs: (cpu.user + cpu.system) / 1000 })
    }
  })
  const ready = setInterval(() => {
    if (!link.usable) return
    clearInterval(ready)
    process.send({ bench: 'ready' })
  }, 5)
}

// The primary's merge before: Aggregator.merge with the histogram merge of then, bucket by bucket.
function addBefore(h, index, n) {
  const counts = h.counts
  if (counts.length === 0) {
    h.offset = index
    counts.push(n)
    return
  }
  if (index < h.offset) {
    const head = new Array(h.offset - index).fill(0)
    h.counts = head.concat(counts)
    h.offset = index
    h.counts[0] += n
    return
  }
  const at = index - h.offset
  while (counts.length <= at) counts.push(0)
  counts[at] += n
}

function mergeBefore(aggregator, snapshot) {
  aggregator.coverFrom(snapshot.startMs)
  for (const e of snapshot.endpoints) {
    const stats = aggregator.endpoint(e.method, e.route, e.unrouted !== true)
    stats.count += e.count
    stats.errors += e.errors
    stats.aborted += e.aborted
    const h = stats.histogram
    const o = e.histogram
    if (o.count !== 0) {
      h.addSummary(o.count, o.sum, o.min, o.max, o.zeroCount)
      for (let i = 0; i < o.counts.length; i++) if (o.counts[i] !== 0) addBefore(h, o.offset + i, o.counts[i])
    }
    stats.mergeInside(e)
  }
}

async function runPrimary() {
  const { values: opt } = parseArgs({ options: { repeats: { type: 'string', default: '30' }, requests: { type: 'string', default: '200' }, workers: { type: 'string', default: '8' }, endpoints: { type: 'string', default: '1,50,500' }, forms: { type: 'string', default: 'before,packed' }, 'report-every': { type: 'string', default: '60' } } })
  const repeats = Number(opt.repeats)
  const requests = Number(opt.requests)
  const workerCount = Number(opt.workers)
  const ENDPOINTS = opt.endpoints.split(',').map(Number)
  const FORMS = opt.forms.split(',')
  const reportEvery = Number(opt['report-every'])
  const rounds = { before: 0, packed: 0 }
  const hub = new ClusterHub(new Logger('error'), 1000)
  cluster.setupPrimary({ serialization: 'json' })

  const cpuMs = (t0) => {
    const d = process.cpuUsage(t0)
    return (d.user + d.system) / 1000
  }
  /** The primary's CPU per report taking its workers' intervals, in the rounds of all workers. */
  let report

  /** A worker with its next message of each kind awaited. */
  function start() {
    const worker = cluster.fork()
    hub.register(worker)
    const w = { worker, before: new Aggregator(1000), waiting: new Map(), bytes: { before: 0, packed: 0 } }
    const settle = (key, value) => {
      const resolve = w.waiting.get(key)
      w.waiting.delete(key)
      resolve?.(value)
    }
    // After the hub's own listener: a packed hand-off is merged when this runs.
    worker.process.on('internalMessage', (m) => {
      if (m.cmd === BEFORE_CMD) {
        mergeBefore(w.before, m.interval)
        settle('merged')
      } else if (m.cmd === 'NODE_AGENT' && m.type === 'packed') settle('merged')
    })
    worker.on('message', (m) => settle(m.bench, m))
    w.next = (key) => new Promise((resolve) => w.waiting.set(key, resolve))
    return w
  }

  const workers = Array.from({ length: workerCount }, start)
  await Promise.all(workers.map((w) => w.next('ready')))

  /** Each of `group` hands one interval over in `form`; the primary's CPU for all of them, and each worker's. */
  async function handOff(group, form, endpoints) {
    await Promise.all(group.map((w) => (w.worker.send({ bench: 'fill', endpoints, requests }), w.next('filled'))))
    // What this form's hand-offs so far merged goes at a report (each form every `reportEvery` of its own);
    // the acknowledgements let the workers forget. Its CPU is the primary's take at a report.
    if (rounds[form]++ % reportEvery === 0) {
      const t = process.cpuUsage()
      if (form === 'before') {
        // A drain then copied every histogram's buckets and started empty.
        for (const w of workers) {
          w.before.snapshot()
          w.before = new Aggregator(1000)
        }
      } else hub.acknowledge(hub.drain().marks)
      if (group.length > 1 && rounds[form] > 1) report[form].push(cpuMs(t))
    }
    const merged = group.map((w) => w.next('merged'))
    const done = group.map((w) => w.next('done'))
    for (const w of group) w.worker.send({ bench: 'go', form })
    // From after the bench's own 'go' messages (a worker hands over on its own timer; the primary sends
    // nothing per hand-off): writing one costs the primary a pipe write, about as much as a merge at
    // 50 endpoints. Every merge still runs after this, as the messages are read on a later turn of the loop.
    const t0 = process.cpuUsage()
    await Promise.all(merged)
    const primaryMs = cpuMs(t0)
    const reports = await Promise.all(done)
    if (!reports.every((r) => r.written)) throw new Error('a hand-off was not written')
    return { primaryMs, workerMs: reports.map((r) => r.cpuMs) }
  }

  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const fmt = (xs) => xs.length === 0 ? '-' : `${median(xs).toFixed(3)} (${Math.max(...xs).toFixed(3)})`
  const rows = []
  for (const endpoints of ENDPOINTS) {
    const one = { before: { worker: [], primary: [] }, packed: { worker: [], primary: [] } }
    const all = { before: [], packed: [] }
    // The first rounds warm up both sides (and send the packed names); not counted.
    for (let r = -3; r < repeats; r++) {
      for (const form of FORMS) {
        const single = await handOff([workers[0]], form, endpoints)
        if (r >= 0) {
          one[form].worker.push(single.workerMs[0])
          one[form].primary.push(single.primaryMs)
        }
      }
    }
    report = { before: [], packed: [] }
    for (let r = -1; r < Math.ceil(repeats / 3); r++) {
      for (const form of FORMS) {
        const group = await handOff(workers, form, endpoints)
        if (r >= 0) all[form].push(group.primaryMs)
      }
    }
    rows.push({ endpoints, one, all, report })
  }
  const bytes = await messageBytes()
  process.stdout.write(`Node ${process.version}, ${requests} requests per endpoint per hand-off, a report every ${reportEvery} hand-offs; CPU ms, median (max) of ${repeats} (${workerCount} workers: of ${Math.ceil(repeats / 3)})\n\n`)
  process.stdout.write(`| active endpoints | message bytes, before / packed | worker CPU per hand-off, before | packed | primary CPU per merge, before | packed | ${workerCount} workers: primary ms per second, before | packed | ${workerCount} workers: primary ms per report to take their intervals, before | packed |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n`)
  for (const r of rows) {
    const b = bytes.get(r.endpoints)
    process.stdout.write(`| ${r.endpoints} | ${b.before} / ${b.packed} | ${fmt(r.one.before.worker)} | ${fmt(r.one.packed.worker)} | ${fmt(r.one.before.primary)} | ${fmt(r.one.packed.primary)} | ${fmt(r.all.before)} | ${fmt(r.all.packed)} | ${fmt(r.report.before)} | ${fmt(r.report.packed)} |\n`)
  }
  // Disconnected, the workers end by themselves (and write their --cpu-prof profiles); killed if they linger.
  for (const w of workers) {
    w.worker.disconnect()
    setTimeout(() => w.worker.process.kill(), 2000).unref()
  }

  /** The JSON each form puts on the channel (a packed hand-off after the first: names already sent). */
  async function messageBytes() {
    const out = new Map()
    const capture = new Map()
    const w = workers[0]
    const listener = (m) => capture.set(m.cmd === BEFORE_CMD ? 'before' : m.type, Buffer.byteLength(JSON.stringify(m)))
    w.worker.process.on('internalMessage', listener)
    for (const endpoints of ENDPOINTS) {
      for (const form of ['before', 'packed', 'packed']) await handOff([w], form, endpoints)
      out.set(endpoints, { before: capture.get('before'), packed: capture.get('packed') })
    }
    w.worker.process.removeListener('internalMessage', listener)
    return out
  }
}
