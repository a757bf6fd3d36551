#!/usr/bin/env node
// Agent overhead, measured side by side in one run: every configuration runs
// once per round (interleaved) so machine noise spreads evenly; medians over
// rounds, and every ratio against "no agent" of the same framework and run.
//   npm run bench [-- --rounds 3 --duration 5 --frameworks express,fastify,nest --modes none,core,agent,otel,dd,elastic --no-cluster --no-instructions]
import { execFileSync, spawn } from 'node:child_process'
import http from 'node:http'
import os from 'node:os'
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { agentEnv, freePort, modeArgs, servers, startSink } from './configurations.mjs'
import { instructionsTable, measurePerRequest, valgrindAvailable } from './instructions.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
    frameworks: { type: 'string', default: 'express,fastify,nest' },
    modes: { type: 'string', default: 'none,agent,otel,dd,elastic' },
    'no-cluster': { type: 'boolean', default: false },
    'no-instructions': { type: 'boolean', default: false },
  },
})
const ROUNDS = Number(opt.rounds)
const DURATION = Number(opt.duration)
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100

const configs = []
for (const fw of opt.frameworks.split(',')) {
  for (const mode of opt.modes.split(',')) {
    if (!modeArgs[mode]) throw new Error(`unknown mode "${mode}": use one of ${Object.keys(modeArgs).join(', ')}`)
    if (!servers[fw]) throw new Error(`unknown framework "${fw}": use one of express, fastify, nest`)
    configs.push({ fw, mode })
  }
}
if (!opt['no-cluster']) for (const mode of ['none', 'agent']) configs.push({ fw: 'express-cluster', mode })

const sink = await startSink()

const descendants = (pid) => {
  const out = [pid]
  for (let i = 0; i < out.length; i++) {
    try {
      for (const t of execFileSync('ls', [`/proc/${out[i]}/task`]).toString().split('\n').filter(Boolean)) {
        out.push(...readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number))
      }
    } catch {}
  }
  return [...new Set(out)]
}
const cpuTicks = (pids) => pids.reduce((n, pid) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return n + Number(f[11]) + Number(f[12]) // utime, stime
  } catch { return n }
}, 0)
const hwmMB = (pids) => pids.reduce((n, pid) => {
  try { return n + Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024 } catch { return n }
}, 0)
const firstResponse = (port) => new Promise((resolve) => {
  const t = () => http.get({ host: '127.0.0.1', port, path: '/users/1' }, (res) => { res.resume(); resolve() }).on('error', () => setTimeout(t, 5))
  t()
})
const load = (port, seconds) => new Promise((resolve, reject) => {
  const child = spawn(process.execPath, [join(here, 'load.mjs'), `http://127.0.0.1:${port}/users/42`, opt.connections, String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load exited ${code}`))))
})

async function measure({ fw, mode }) {
  const port = await freePort()
  const argv = [...modeArgs[mode](fw), servers[fw]]
  const env = { ...agentEnv(sink.url, 5000), PORT: String(port), BENCH_MODE: mode }
  const started = performance.now()
  const server = spawn(process.execPath, argv, { cwd: here, env, stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise((r) => server.once('exit', r))
  await firstResponse(port)
  const startupMs = performance.now() - started
  await load(port, 1) // warm-up
  const sinkBefore = sink.counts.payloads
  const pids = descendants(server.pid)
  const cpu0 = cpuTicks(pids)
  const result = await load(port, DURATION)
  const cpuUs = ((cpuTicks(pids) - cpu0) / CLK_TCK) * 1e6 / Math.max(result.requests, 1)
  const rssMB = hwmMB(pids)
  await new Promise((r) => setTimeout(r, mode === 'none' ? 0 : 5500)) // one more export interval
  const exported = sink.counts.payloads - sinkBefore
  server.kill('SIGTERM')
  const timer = setTimeout(() => server.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
  return { ...result, cpuUs, rssMB, startupMs, exported }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 }
const runs = new Map(configs.map((c) => [`${c.fw}/${c.mode}`, []]))
for (let round = 1; round <= ROUNDS; round++) {
  for (const c of configs) {
    process.stderr.write(`round ${round}/${ROUNDS}: ${c.fw} ${c.mode}... `)
    const r = await measure(c)
    runs.get(`${c.fw}/${c.mode}`).push(r)
    process.stderr.write(`${Math.round(r.rps)} req/s, ${r.cpuUs.toFixed(1)} us CPU/req\n`)
  }
}

const rows = []
for (const c of configs) {
  const rs = runs.get(`${c.fw}/${c.mode}`)
  const m = { rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), cpuUs: median(rs.map((r) => r.cpuUs)), rssMB: median(rs.map((r) => r.rssMB)), startupMs: median(rs.map((r) => r.startupMs)), exported: Math.min(...rs.map((r) => r.exported)), errors: rs.reduce((n, r) => n + r.errors, 0) }
  rows.push({ ...c, ...m })
}
for (const r of rows) {
  const base = rows.find((b) => b.fw === r.fw && b.mode === 'none') ?? r
  r.rpsRatio = r.rps / base.rps
  // autocannon reports whole milliseconds: below 1 ms there is no ratio to take.
  r.p99Ratio = base.p99 >= 1 ? r.p99 / base.p99 : NaN
  r.cpuAddedUs = r.cpuUs - base.cpuUs
  r.rssAddedMB = r.rssMB - base.rssMB
  r.startupAddedMs = r.startupMs - base.startupMs
  r.sentNothing = r.mode !== 'none' && r.exported === 0
}
for (const r of rows.filter((x) => x.mode === 'agent')) {
  const otel = rows.find((o) => o.fw === r.fw && o.mode === 'otel')
  if (otel) r.vsOtel = r.cpuAddedUs / Math.max(otel.cpuAddedUs, 0.001)
}

const micro = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--max-semi-space-size=256', join(here, 'micro.mjs')]).toString())
// Instructions (split into the app's own work, GC and compilation) and bytes allocated per request, over
// repeats: immune to the machine's noise, where valgrind is installed (see instructions.mjs).
let instructions = null
if (opt['no-instructions']) instructions = 'skipped (--no-instructions)'
else if (!valgrindAvailable()) instructions = 'skipped: valgrind is not installed (Debian: apt-get install valgrind)'
else {
  const frameworks = opt.frameworks.split(',')
  const modes = ['none', 'agent', 'otel'].filter((m) => m === 'none' || opt.modes.split(',').includes(m))
  // Once-per-interval work (export, runtime metrics) is left out with a long interval: under
  // valgrind a run lasts minutes, so it would be charged ~50 times over to each request.
  const env = { ...agentEnv(sink.url, 600_000), BENCH_EXPORT_INTERVAL_MS: '600000' }
  instructions = await measurePerRequest({ frameworks, modes, env, log: (s) => process.stderr.write(s) })
}
const f = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-')
const table = [
  '| framework | agent | req/s | ratio | p50 ms | p99 ms | p99 ratio | CPU us/req | CPU added us | RSS MB | RSS added | startup ms | startup added | vs OTel added CPU | exported |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ...rows.map((r) => `| ${r.fw} | ${r.mode} | ${Math.round(r.rps)} | ${f(r.rpsRatio)} | ${f(r.p50, 1)} | ${f(r.p99, 1)} | ${f(r.p99Ratio)} | ${f(r.cpuUs, 1)} | ${r.mode === 'none' ? '' : f(r.cpuAddedUs, 1)} | ${f(r.rssMB, 1)} | ${r.mode === 'none' ? '' : f(r.rssAddedMB, 1)} | ${f(r.startupMs, 0)} | ${r.mode === 'none' ? '' : f(r.startupAddedMs, 0)} | ${r.vsOtel === undefined ? '' : f(r.vsOtel)} | ${r.mode === 'none' ? '' : r.sentNothing ? '**sent nothing: not ranked**' : `${r.exported} payloads`} |`),
]
const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Node ${process.version}`
const md = [
  `Run ${new Date().toISOString()} on ${machine}.`,
  `Command: \`npm run bench\` (${ROUNDS} interleaved rounds of ${DURATION} s per configuration after a 1 s warm-up, autocannon with ${opt.connections} connections from its own process; medians over rounds).`,
  '',
  ...table,
  '',
  `Micro-benchmark of the per-request path (record + aggregate): ${micro.nsPerOp} ns/op, ${micro.bytesPerOp} bytes/op over ${micro.ops} ops.`,
  '',
  typeof instructions === 'string' ? `Instruction counts: ${instructions}.` : instructionsTable(instructions),
].join('\n')
mkdirSync(join(here, 'results'), { recursive: true })
writeFileSync(join(here, 'results', 'latest.json'), JSON.stringify({ machine, rounds: ROUNDS, duration: DURATION, rows, micro, instructions }, null, 2))
writeFileSync(join(here, 'results', 'latest.md'), md + '\n')
process.stdout.write('\n' + md + '\n')
sink.close()
