#!/usr/bin/env node
// Issue 15's budget, counted, not timed: a route that makes one PostgreSQL
// query and one outbound fetch (servers/express-calls.cjs: Express 5, GET
// /calls/:id, `SELECT $1::int AS id` on a pg.Pool, then fetch() to a downstream
// server on loopback), instructions per request (valgrind's callgrind) split
// into the app's own work, GC and JIT compilation, with no agent, with @agent
// and with OpenTelemetry JS (http, undici and pg instrumentations, OTLP/HTTP
// exporters: otel-calls-setup.mjs). Target: what the agent adds at most 1/20 of
// what OpenTelemetry adds, on Node 20 and on Node 24.
//
// The machinery is instructions.mjs's (the same V8 flags, fixed young
// generation, probe.cjs, windows from one major GC to the next or WINDOW
// requests, the same split into app/GC/compile); only the route, the server
// and its two peers differ:
//   - PostgreSQL 15 of the bench's own (startPostgres from
//     packages/test-helpers, on loopback in a temp dir, fsync off);
//   - the downstream server (servers/downstream.cjs), its own process, run by
//     the harness's node, never under valgrind;
//   - the sink every agent exports to (configurations.mjs), with a 600 s
//     export interval, as in instructions.mjs (OpenTelemetry's span batches
//     still go out as its batch processor fills: that is part of its cost).
// The measured server runs on the node given by --node (default: this one).
//   node calls.mjs [--node /path/to/node --modes none,agent,otel --repeats 3 --warmup 3000
//                   --lead 2000 --window 1000 --jobs 1 --top 30 --json out.json]
// (smaller than instructions.mjs's 8000/5000/4000, to keep Node 20 and Node 24 under 25 minutes on
// 2 cores; a request here is ~1.6M instructions on Node 20, this route's GC cycle is longer than the
// window, so most windows hold scavenges only.) Modes: none, agent, otel, and als (the request
// context alone, als-setup.mjs: not a product, to split the agent's cost on Node 20).
//   node calls.mjs --render results/calls-node24.json     (prints a saved run again)
//   node calls.mjs --check [--node ...]   (no valgrind: each mode serves 300 requests natively
//                                          and the sink's payloads are searched for the spans)
import { execFileSync, spawn } from 'node:child_process'
import http from 'node:http'
import os from 'node:os'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { gunzipSync } from 'node:zlib'
import { tsImport } from 'tsx/esm/api'
import { agentEnv, callgrindArgs, callgrindControl, freePort, startSink } from './configurations.mjs'
import { COMPILE_FUNCTIONS, GC_FUNCTIONS, INSTRUCTION_SEMI_SPACE_MB, V8_FLAGS, classify, distFingerprint, drive, median, parseCallgrind, pool, probeArgs, semiSpace, spread, startServer, valgrindAvailable } from './instructions.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const SERVER = 'servers/express-calls.cjs'
const PATH = '/calls/42'
export const CALLS_MODES = {
  none: [],
  agent: ['--import', '@agent/express/register'],
  otel: ['--import', './otel-calls-setup.mjs'],
  // Not a product: the request context alone (als-setup.mjs), to tell the agent's own work from the
  // price of an AsyncLocalStorage, which OpenTelemetry pays too.
  als: ['--import', './als-setup.mjs'],
}
/** Issue 15: the agent's added instructions per request at most 1/20 of OpenTelemetry's. */
export const CALLS_TARGET = 1 / 20

/** The downstream server the route fetches from: its own process, not measured. */
async function startDownstream() {
  const port = await freePort()
  const child = spawn(process.execPath, [join(here, 'servers', 'downstream.cjs')], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => /ready/.test(String(d)) && resolve())
    child.once('exit', (code) => reject(new Error(`downstream server exited (${code})`)))
  })
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') }
}

/** Self instructions per function, per request, from a profile: to see where an added cost goes. */
function selfPerRequest(self, requests) {
  const out = new Map()
  for (const [f, n] of self) {
    const name = f.replace(/'\d+$/, '')
    out.set(name, (out.get(name) ?? 0) + n / requests)
  }
  return out
}

/** One repeat under callgrind, as instructions.mjs's instructionRun, on the calls route. */
async function instructionRun({ node, mode, warmup, lead, window, dir, env, tag, keepSelf }) {
  const port = await freePort()
  const file = join(dir, `calls-${mode}-${tag}.out`)
  const args = [...callgrindArgs(dir, file), node, ...V8_FLAGS, ...semiSpace(INSTRUCTION_SEMI_SPACE_MB), ...probeArgs, ...CALLS_MODES[mode], SERVER]
  // Another session may be rebuilding packages/*/dist (tsup empties it first): a server that exits
  // before it is ready is started again, up to 5 times, and the build each run loaded is recorded.
  let s
  let build
  for (let attempt = 1; ; attempt++) {
    build = distFingerprint()
    try {
      s = await startServer({ command: 'valgrind', args, env: { ...env, PORT: String(port), BENCH_MODE: mode, BENCH_PROBE_MAJOR: '1' }, what: `calls/${mode} under callgrind`, timeoutMs: 300_000 })
      break
    } catch (error) {
      if (attempt >= 5 || !/exited/.test(String(error))) throw error
      await new Promise((r) => setTimeout(r, 10_000))
    }
  }
  let requests
  let cycle
  try {
    await drive(port, warmup, undefined, PATH)
    const m0 = s.majors()
    await drive(port, lead, () => s.majors() > m0, PATH)
    callgrindControl(dir, '--instr=on', s.server.pid)
    const m1 = s.majors()
    requests = await drive(port, window, () => s.majors() > m1, PATH)
    cycle = m1 > m0 && s.majors() > m1
    callgrindControl(dir, '--dump', s.server.pid)
  } finally {
    await s.stop()
  }
  const dump = readdirSync(dir).find((f) => f.startsWith(`calls-${mode}-${tag}.out.`))
  if (!dump) throw new Error(`calls/${mode}: callgrind wrote no dump`)
  const profile = parseCallgrind(readFileSync(join(dir, dump), 'utf8'))
  const c = classify(profile)
  const result = { total: c.total / requests, app: c.app / requests, gc: c.gc / requests, compile: c.compile / requests, scavenges: c.scavenges, majors: c.majors, requests, cycle, build }
  if (keepSelf) result.self = selfPerRequest(profile.self, requests)
  if (!process.env.BENCH_KEEP_PROFILES) for (const f of readdirSync(dir)) if (f.startsWith(`calls-${mode}-${tag}.out`)) rmSync(join(dir, f))
  return result
}

/** Functions whose self cost per request the agent's runs add most to (median over repeats, against no agent). */
function topAdded(runsAgent, runsNone, n) {
  const names = new Set([...runsAgent, ...runsNone].flatMap((r) => [...r.self.keys()]))
  const rows = []
  for (const f of names) {
    const a = median(runsAgent.map((r) => r.self.get(f) ?? 0))
    const b = median(runsNone.map((r) => r.self.get(f) ?? 0))
    rows.push({ fn: f, agent: a, none: b, added: a - b })
  }
  rows.sort((x, y) => y.added - x.added)
  const app = rows.filter((r) => !GC_FUNCTIONS.test(r.fn) && !COMPILE_FUNCTIONS.test(r.fn))
  const unnamed = rows.filter((r) => /^0x[0-9a-f]+$/i.test(r.fn)).reduce((s, r) => s + r.added, 0)
  return { top: app.slice(0, n), unnamedJitAdded: unnamed, sumAdded: rows.reduce((s, r) => s + r.added, 0) }
}

export async function measureCalls({ node, modes, repeats, warmup, lead, window, jobs, env, top = 0, log = () => {} }) {
  const dir = mkdtempSync(join(tmpdir(), 'agent-calls-'))
  const runs = new Map(modes.map((m) => [m, []]))
  const started = Date.now()
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)} s`
  try {
    const tasks = []
    for (let r = 1; r <= repeats; r++) {
      for (const mode of modes) {
        tasks.push(async () => {
          const x = await instructionRun({ node, mode, warmup, lead, window, dir, env, tag: r, keepSelf: top > 0 && (mode === 'agent' || mode === 'none') })
          runs.get(mode).push(x)
          log(`[${elapsed()}] calls ${mode} #${r}: ${(x.total / 1000).toFixed(1)}k instructions/request = app ${(x.app / 1000).toFixed(1)}k + GC ${(x.gc / 1000).toFixed(1)}k + compile ${(x.compile / 1000).toFixed(1)}k (${x.requests} requests, ${x.scavenges} scavenges, ${x.majors} major GCs in the window${x.cycle ? ', which ended at a major GC' : ''})\n`)
        })
      }
    }
    await pool(tasks, jobs)
  } finally {
    if (process.env.BENCH_KEEP_PROFILES) log(`profiles kept in ${dir}\n`)
    else rmSync(dir, { recursive: true, force: true })
  }
  const rows = modes.map((mode) => {
    const xs = runs.get(mode)
    const of = (key) => spread(xs.map((x) => x[key]))
    return { mode, builds: [...new Set(xs.map((x) => x.build))], requests: of('requests'), cycles: xs.filter((x) => x.cycle).length, total: of('total'), app: of('app'), gc: of('gc'), compile: of('compile'), scavenges: of('scavenges'), majors: of('majors') }
  })
  const base = rows.find((r) => r.mode === 'none')
  for (const r of rows) {
    if (!base || r === base) continue
    r.added = {
      app: r.app.median - base.app.median, appLow: r.app.min - base.app.max, appHigh: r.app.max - base.app.min,
      gc: r.gc.median - base.gc.median, compile: r.compile.median - base.compile.median, total: r.total.median - base.total.median,
      appGc: r.app.median + r.gc.median - base.app.median - base.gc.median,
    }
  }
  const agent = rows.find((r) => r.mode === 'agent')
  const otel = rows.find((r) => r.mode === 'otel')
  let ratio
  if (agent?.added && otel?.added) {
    ratio = {
      app: agent.added.app / otel.added.app,
      // Worst case the repeats allow: the agent's widest added against OpenTelemetry's narrowest.
      appWorst: agent.added.appHigh / otel.added.appLow,
      appGc: agent.added.appGc / otel.added.appGc,
      total: agent.added.total / otel.added.total,
    }
  }
  const result = { rows, ratio, target: CALLS_TARGET, repeats, warmup, lead, window, seconds: Math.round((Date.now() - started) / 1000) }
  if (top > 0 && runs.get('agent')?.length && runs.get('none')?.length) result.agentTop = topAdded(runs.get('agent'), runs.get('none'), top)
  return result
}

export function callsTable(result) {
  const k = (n) => (Number.isFinite(n) ? `${(n / 1000).toFixed(1)}k` : '')
  const sk = (n) => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${(n / 1000).toFixed(1)}k` : '')
  const range = (s) => `${k(s.median)} (${k(s.min)}–${k(s.max)})`
  const lines = [
    "| node | agent | window (requests) | app's own work | added | added, range | GC | GC added | compile | compile added | total |",
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of result.rows) {
    const a = r.added
    const window = `${Math.round(r.requests.median)}${r.cycles === r.requests.all.length ? ' (a cycle)' : r.cycles ? ` (${r.cycles} of ${r.requests.all.length} a cycle)` : ''}`
    lines.push(`| ${result.node ?? ''} | ${r.mode} | ${window} | ${range(r.app)} | ${a ? sk(a.app) : ''} | ${a ? `${sk(a.appLow)} to ${sk(a.appHigh)}` : ''} | ${range(r.gc)} | ${a ? sk(a.gc) : ''} | ${range(r.compile)} | ${a ? sk(a.compile) : ''} | ${k(r.total.median)} |`)
  }
  if (result.ratio) {
    const x = (v) => (v > 0 ? `1/${(1 / v).toFixed(1)} (${v.toFixed(3)})` : `${v.toFixed(3)} (the agent's side is negative)`)
    const verdict = result.ratio.app <= result.target ? 'met' : `**missed** (the agent would have to add ≤ ${k(result.rows.find((r) => r.mode === 'otel').added.app * result.target)})`
    lines.push('', `Agent-added / OpenTelemetry-added, app's own work: ${x(result.ratio.app)} (worst the repeats allow ${x(result.ratio.appWorst)}); app + GC ${x(result.ratio.appGc)}; total (compile included) ${x(result.ratio.total)}. Target ≤ 1/20: ${verdict}.`)
  }
  return lines.join('\n')
}

/** No valgrind: each mode serves 300 requests natively with a 1 s export interval; which spans reached the sink. */
async function check({ node, env, downstream }) {
  const bodies = []
  const sink = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => { const raw = Buffer.concat(chunks); bodies.push({ url: req.url, body: (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('latin1') }); res.writeHead(200, { 'content-type': 'application/json' }).end('{}') })
  })
  await new Promise((resolve) => sink.listen(0, '127.0.0.1', resolve))
  const sinkUrl = `http://127.0.0.1:${sink.address().port}`
  const out = {}
  try {
    for (const mode of Object.keys(CALLS_MODES)) {
      bodies.length = 0
      const port = await freePort()
      const s = await startServer({ command: node, args: [...V8_FLAGS, ...CALLS_MODES[mode], SERVER], env: { ...env, ...agentEnv(sinkUrl, 1000), BENCH_SINK: sinkUrl, BENCH_EXPORT_INTERVAL_MS: '1000', PORT: String(port), BENCH_MODE: mode }, what: `calls/${mode}`, timeoutMs: 60_000 })
      try {
        const served = await drive(port, 300, undefined, PATH)
        await new Promise((r) => setTimeout(r, 3000))
        const all = bodies.map((b) => b.body).join('\n')
        if (process.env.BENCH_DUMP) writeFileSync(join(tmpdir(), `calls-check-${mode}.txt`), all)
        out[mode] = { served, payloads: bodies.length, paths: [...new Set(bodies.map((b) => b.url))], mentionsSelect: /SELECT/.test(all), mentionsPostgres: /postgres/i.test(all), mentionsDownstream: all.includes(downstream.replace('http://', '')) || /\/items\//.test(all), mentionsRoute: all.includes('/calls/') }
      } finally {
        await s.stop()
      }
    }
  } finally {
    sink.close()
  }
  return out
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: opt } = parseArgs({
    options: {
      node: { type: 'string', default: process.execPath },
      modes: { type: 'string', default: 'none,agent,otel' },
      repeats: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '3000' },
      lead: { type: 'string', default: '2000' },
      window: { type: 'string', default: '1000' },
      jobs: { type: 'string', default: '1' },
      top: { type: 'string', default: '30' },
      json: { type: 'string' },
      check: { type: 'boolean', default: false },
      render: { type: 'string' },
    },
  })
  if (opt.render) {
    // Prints a saved run again (its JSON), functions named as GC or compilation left out of the list.
    const result = JSON.parse(readFileSync(opt.render, 'utf8'))
    process.stdout.write(callsTable(result) + '\n')
    if (result.agentTop) {
      const top = result.agentTop.top.filter((t) => !GC_FUNCTIONS.test(t.fn) && !COMPILE_FUNCTIONS.test(t.fn))
      process.stdout.write(`\nWhere the agent's added instructions go: self cost per request of the functions callgrind names, agent minus no agent (medians over repeats), GC and compiler functions left out; JIT code (unnamed to callgrind) adds ${(result.agentTop.unnamedJitAdded / 1000).toFixed(1)}k in all:\n`)
      for (const t of top) process.stdout.write(`  ${t.added >= 0 ? '+' : ''}${Math.round(t.added)}\t${t.fn.slice(0, 140)}\n`)
    }
    process.stdout.write(`\nRun ${result.date}, ${result.seconds} s; server on Node ${result.node}; HEAD ${result.commit}, agent build ${result.dist}; ${result.repeats} repeats, windows of ${result.window} requests after ${result.warmup} + up to ${result.lead}; exported to the sink: ${JSON.stringify(result.exported)}\n`)
    process.exit(0)
  }
  const node = opt.node
  const nodeVersion = execFileSync(node, ['--version']).toString().trim()
  if (!opt.check && !valgrindAvailable()) {
    process.stderr.write('valgrind (with callgrind_control) is not installed: install it (Debian: apt-get install valgrind) to count instructions.\n')
    process.exit(2)
  }
  const { startPostgres } = await tsImport('../packages/test-helpers/src/db-servers.ts', import.meta.url)
  const pg = await startPostgres()
  const downstream = await startDownstream()
  const sink = await startSink()
  const pgEnv = { PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: pg.user, PGPASSWORD: pg.password, PGDATABASE: pg.database, DOWNSTREAM_URL: downstream.url }
  try {
    if (opt.check) {
      process.stdout.write(JSON.stringify({ node: nodeVersion, ...(await check({ node, env: { ...process.env, ...pgEnv }, downstream: downstream.url })) }, null, 2) + '\n')
    } else {
      const env = { ...agentEnv(sink.url, 600_000), BENCH_EXPORT_INTERVAL_MS: '600000', ...pgEnv }
      const before = distFingerprint()
      const result = await measureCalls({ node, modes: opt.modes.split(','), repeats: Number(opt.repeats), warmup: Number(opt.warmup), lead: Number(opt.lead), window: Number(opt.window), jobs: Number(opt.jobs), top: Number(opt.top), env, log: (s) => process.stderr.write(s) })
      const after = distFingerprint()
      result.node = nodeVersion
      result.machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Linux ${os.release()}`
      result.date = new Date().toISOString()
      result.flags = [...V8_FLAGS, ...semiSpace(INSTRUCTION_SEMI_SPACE_MB)]
      result.commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here }).toString().trim()
      result.dist = before === after ? before : `${before} -> ${after} (the built agent changed during the run)`
      result.exported = sink.counts
      if (opt.json) writeFileSync(opt.json, JSON.stringify(result, null, 2))
      process.stdout.write(callsTable(result) + '\n')
      if (result.agentTop) {
        process.stdout.write(`\nWhere the agent's added instructions go (self cost per request, median over repeats, agent minus no agent; ${(result.agentTop.sumAdded / 1000).toFixed(1)}k in all, of which JIT code callgrind cannot name ${(result.agentTop.unnamedJitAdded / 1000).toFixed(1)}k):\n`)
        for (const t of result.agentTop.top) process.stdout.write(`  ${t.added >= 0 ? '+' : ''}${Math.round(t.added)}\t${t.fn.slice(0, 160)}\n`)
      }
      process.stdout.write(`\nRun ${result.date} on ${result.machine}, ${result.seconds} s; server on Node ${nodeVersion}; HEAD ${result.commit}, agent build (packages/*/dist) ${result.dist}; exported to the sink: ${JSON.stringify(result.exported)}\n`)
    }
  } finally {
    sink.close()
    downstream.stop()
    await pg.stop()
  }
}
