#!/usr/bin/env node
// Per-request cost counted, not timed: instructions per request (valgrind's
// callgrind) split into the app's own work, garbage collection and JIT
// compilation, and JS heap bytes allocated per request, for each framework with
// no agent, @agent and OpenTelemetry JS, over several repeats (min, median, max).
//
// One server process per repeat:
//   1. it starts under callgrind with instrumentation off (fast), with the V8
//      flags below that make GC and compilation as deterministic as V8 allows;
//   2. WARMUP requests (4 keep-alive connections from this process) let the JIT
//      settle (Express's optimizations level off at 6,000 to 10,000 requests);
//   3. `callgrind_control -i on`, then SETTLE requests, counted and thrown
//      away: valgrind translates the code again with instrumentation, and for
//      a while requests take far longer than their own work (at first over
//      the agent's 500 ms slow-request line, so the agent kept them as slow
//      traces and V8 deoptimized and optimized its request-end code again:
//      20k-38k instructions of compilation per Fastify request, in the window);
//   4. more requests (LEAD at most) until V8 runs a major GC by itself
//      (probe.cjs prints a line at each), `callgrind_control --zero`;
//   5. requests until the next major GC or WINDOW requests,
//      `callgrind_control --dump`: the dump holds exactly the window
//      (start-up, warm-up and settling never counted), a whole GC cycle where there is
//      one. A major GC is followed by a wave of re-optimization (Express under
//      valgrind: some 40 functions, 8M instructions each), so a window that held part of a
//      cycle, or a wave without its cycle, would swing by 100k+ per request.
//      (No full GC forced at the start: after one, Fastify, which runs no major
//      GC by itself for 30,000 requests, pays a wave it would never pay.)
//   6. the dump is split by function (see classify below) and divided by the
//      requests served in the window.
// Allocation is measured apart, without valgrind: the same server and flags
// but a 1 GiB young generation, so that no GC runs inside the window (checked
// with v8.GCProfiler); the JS heap's used bytes at the window's end minus at
// its start is what the window allocated. probe.cjs checks the method on a
// known allocation first (--check-allocation runs only that).
// BENCH_V8_TRACE=/tmp/trace: each measured server also runs with --trace-opt
// --trace-deopt, its output in /tmp/trace.<framework>-<mode>-<repeat>.txt with
// the window's start and end marked (as the output has arrived by then): what
// V8 compiled or dropped inside a window, and why.
//   node instructions.mjs [--frameworks express,fastify,nest --modes none,agent,otel
//                          --repeats 3 --alloc-repeats 9 --warmup 8000 --settle 500 --lead 5000 --window 4000 --jobs 2
//                          --alloc-warmup 8000 --alloc-window 5000 --json out.json]
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import http from 'node:http'
import os from 'node:os'
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { agentEnv, callgrindArgs, callgrindControl, freePort, modeArgs, servers, startSink } from './configurations.mjs'

const here = dirname(fileURLToPath(import.meta.url))

/**
 * V8 flags for every measured server, and why. Under valgrind the clock runs
 * about 50 times slower than the code's own pace, so anything V8 decides by the
 * clock lands at other points of the request stream from run to run.
 */
export const V8_FLAGS = [
  // No background threads: Turbofan and Sparkplug compile, and the GC marks,
  // sweeps and scavenges, on the main thread at the point that asks for it,
  // instead of finishing whenever a helper thread gets to it.
  '--single-threaded',
  // V8's predictable mode: fixed random seed (Math.random, hence OpenTelemetry's
  // ids), no memory reducer (a timer that starts GCs a few seconds after a
  // mark-compact), no concurrent Sparkplug or recompilation.
  '--predictable',
  // Incremental marking steps only on allocation, not from a task the event
  // loop runs whenever it gets to it. (Not --no-incremental-marking: with it
  // V8 kept re-optimizing Express's functions, 306 optimizations after 22,000
  // requests against 131 without it, which would measure another program.)
  '--no-incremental-marking-task',
  // No early scavenge from a posted task (it runs when the event loop gets to
  // it): a scavenge happens exactly when the young generation is full.
  '--no-minor-gc-task',
  // Old-generation limit = live bytes x 1.3 after each major GC, instead of a
  // factor V8 derives from the GC's and the mutator's measured speeds.
  '--heap-growing-percent=30',
  // PERF_MAP=1 (with BENCH_KEEP_PROFILES=1): V8 writes /tmp/perf-PID.map, which names the JIT code
  // that callgrind can only list by address (PID: the `pid:` line of the kept profile).
  ...(process.env.PERF_MAP ? ['--perf-basic-prof'] : []),
]
/**
 * The agent's slow-request line, out of reach. Under valgrind a request runs some 50 times slower, and a
 * major GC stalls the requests in flight for seconds: requests that take a few milliseconds natively
 * crossed the default 500 ms, the agent kept them as slow traces, and V8 deoptimized and optimized its
 * request path again inside the window (plain: 19k-20k instructions of compilation per request). A
 * slow trace is a cost per slow request, not per request. Set for the allocation runs too, alike.
 */
const SLOW_LINE_OUT_OF_REACH = { AGENT_SLOW_REQUEST_MS: '3600000' }
/** The young generation, fixed (no growing or shrinking): 16 MB semi-spaces, the size V8 grows to here under load. */
export const INSTRUCTION_SEMI_SPACE_MB = 16
/** Large enough that no scavenge runs inside an allocation window. */
const ALLOCATION_SEMI_SPACE_MB = 1024
export const semiSpace = (mb) => [`--min-semi-space-size=${mb}`, `--max-semi-space-size=${mb}`]

/**
 * Attribution rules. Each function in the profile is GC, compilation or the
 * app's own work. A function whose name marks it as the garbage collector's
 * (first list) is GC; one whose name marks it as a compiler's, parser's or
 * the deoptimizer's (second list) is compilation, unless it is also GC. Any
 * other function (malloc, memcpy, V8's job runner, Node's GC callbacks, ...) is
 * charged to each in the share its callers are: its self cost is split over the
 * GC, compilation and the rest in proportion to the inclusive cost of the calls
 * it gets from each (gprof's rule, with callgrind's exact per-call-site cost
 * instead of call counts), solved over the call graph. Everything else, JIT
 * code, builtins, inline-cache misses and the allocation fast and slow paths
 * included, is the app's own work (the app, the framework, Node and the agent).
 */
export const GC_FUNCTIONS = /v8::internal::(Heap::(CollectGarbage|CollectAllGarbage|CollectAllAvailableGarbage|PerformGarbageCollection|GarbageCollection|Scavenge|MarkCompact|MinorMarkCompact|EvacuateYoungGeneration|StartIncrementalMarking|FinalizeIncrementalMarking|CallGCPrologueCallbacks|CallGCEpilogueCallbacks|RecomputeLimits|ProcessAllWeakReferences|ProcessYoungWeakReferences|UpdateYoungReferencesInExternalStringTable|UpdateReferencesInExternalStringTable|IterateRoots|IterateWeakRoots|IterateStrongRoots)|Scaveng|MarkCompact|MinorMarkCompact|MinorMC|IncrementalMarking|ConcurrentMarking|Marking(Visitor|Barrier|State|Worklist)|Sweep|Evacuat|GCTracer|MemoryReducer|RememberedSet|PointersUpdat|GlobalHandles::(PostGarbageCollectionProcessing|ProcessWeak|IterateWeak|ComputeWeak|InvokeSecondPass|InvokeFirstPass|IterateYoung|IterateAllYoung)|MarkingBarrier)|^cppgc::internal::|^heap::base::/
export const COMPILE_FUNCTIONS = /v8::internal::(compiler::|maglev::|baseline::|Compiler::|Parser|PreParser|Scanner|ParseInfo|AstValueFactory|DeclarationScope|Scope::|ScopeInfo::Create|interpreter::(BytecodeGenerator|BytecodeArrayBuilder|BytecodeArrayWriter|ConstantArrayBuilder|BytecodeRegisterOptimizer|BytecodeGenerationAllocationScope)|Deoptimizer|TieringManager|OptimizingCompileDispatcher|BaselineBatchCompiler|Runtime_Compile|Runtime_InstallBaselineCode|Runtime_NotifyDeoptimized|Runtime_HealOptimizedCodeSlot|Runtime_FunctionFirstExecution|Runtime_StackGuardWithGap|RegExpImpl::Compile|RegExpCompiler|RegExpParser|RegExpBytecodeGenerator|UnoptimizedCompileJob|BackgroundCompileTask|FinalizeUnoptimizedCompil)/

export function valgrindAvailable() {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
    execFileSync('sh', ['-c', 'command -v callgrind_control'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * Sequential keep-alive requests from 4 connections: `count` of them, or fewer if `stop()` turns true
 * first (no new request is sent then; those in flight finish). Resolves with the number served.
 */
/**
 * `count` requests (fewer if `stop` says so) from 4 keep-alive connections. `connections`: an
 * http.Agent to keep using after this call (the caller destroys it); by default the connections
 * are new and closed at the end.
 */
export async function drive(port, count, stop = () => false, path = '/users/42', connections = undefined) {
  const agent = connections ?? new http.Agent({ keepAlive: true, maxSockets: 4 })
  const one = () => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`GET ${path} answered ${res.statusCode}`))
      res.resume()
      res.on('end', resolve)
    }).on('error', reject)
  })
  let sent = 0
  let served = 0
  try {
    await Promise.all(Array.from({ length: 4 }, async () => { while (sent < count && !stop()) { sent++; await one(); served++ } }))
  } finally {
    if (connections === undefined) agent.destroy()
  }
  return served
}

/** Self cost per function and the inclusive cost of every call arc, from a callgrind profile. */
export function parseCallgrind(text) {
  const names = new Map()
  const self = new Map()
  const arcs = [] // [caller, callee, inclusive cost, calls]
  let fn = '?'
  let cfn = '?'
  let call = 0 // the pending `calls=` count: the next cost line is that call's inclusive cost
  const named = (spec) => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(spec)
    if (!m) return spec
    if (m[2] !== undefined) names.set(m[1], m[2])
    return names.get(m[1])
  }
  for (const line of text.split('\n')) {
    if (!line) continue
    const c = line.charCodeAt(0)
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42) { // a cost line: position, then Ir
      const n = Number(line.split(' ')[1] ?? 0)
      if (call) { arcs.push([fn, cfn, n, call]); call = 0 } else self.set(fn, (self.get(fn) ?? 0) + n)
    } else if (line.startsWith('fn=')) fn = named(line.slice(3))
    else if (line.startsWith('cfn=')) cfn = named(line.slice(4))
    else if (line.startsWith('calls=')) call = Number(line.slice(6).split(' ')[0]) || 1
  }
  return { self, arcs }
}

/** Splits a profile into the app's own work, GC and compilation (see GC_FUNCTIONS), with the GCs it holds. */
export function classify({ self, arcs }) {
  const base = (f) => f.replace(/'\d+$/, '') // callgrind's recursion-depth suffix
  const fns = new Set([...self.keys(), ...arcs.flatMap(([a, b]) => [a, b])])
  const kind = new Map()
  for (const f of fns) kind.set(f, GC_FUNCTIONS.test(base(f)) ? 'gc' : COMPILE_FUNCTIONS.test(base(f)) ? 'compile' : null)
  const incoming = new Map()
  for (const [a, b, n] of arcs) if (a !== b) { if (!incoming.has(b)) incoming.set(b, []); incoming.get(b).push([a, n]) }
  const share = new Map() // f -> [gc, compile]
  for (const f of fns) share.set(f, kind.get(f) === 'gc' ? [1, 0] : kind.get(f) === 'compile' ? [0, 1] : [0, 0])
  for (let round = 0; round < 50; round++) {
    let moved = 0
    for (const f of fns) {
      if (kind.get(f)) continue
      const ins = incoming.get(f)
      if (!ins) continue
      let sum = 0, gc = 0, compile = 0
      for (const [a, n] of ins) { const s = share.get(a); sum += n; gc += n * s[0]; compile += n * s[1] }
      if (sum === 0) continue
      const next = [gc / sum, compile / sum]
      const old = share.get(f)
      moved = Math.max(moved, Math.abs(next[0] - old[0]), Math.abs(next[1] - old[1]))
      share.set(f, next)
    }
    if (moved < 1e-9) break
  }
  let total = 0, gc = 0, compile = 0
  for (const [f, n] of self) { const s = share.get(f); total += n; gc += n * s[0]; compile += n * s[1] }
  // GCs in the window: calls into the collectors' entry points.
  let scavenges = 0, majors = 0
  for (const [, b, , count] of arcs) {
    if (/ScavengerCollector::CollectGarbage\(/.test(b)) scavenges += count
    if (/MarkCompactCollector::CollectGarbage\(/.test(b)) majors += count
  }
  return { total, gc, compile, app: total - gc - compile, scavenges, majors }
}

/** Reads one callgrind dump and returns its split, per request. */
export function profileOf(file, requests) {
  const c = classify(parseCallgrind(readFileSync(file, 'utf8')))
  return { total: c.total / requests, app: c.app / requests, gc: c.gc / requests, compile: c.compile / requests, scavenges: c.scavenges, majors: c.majors }
}

/** Starts one server; resolves once it printed 'ready'. Lines it prints after that reach `onLine`. */
export async function startServer({ command, args, env, what, timeoutMs, traceFile }) {
  const server = spawn(command, args, { cwd: here, env, stdio: ['ignore', 'pipe', 'pipe'] })
  if (traceFile) server.stdout.on('data', (d) => appendFileSync(traceFile, d))
  const exited = new Promise((resolve) => server.once('exit', resolve))
  let err = ''
  server.stderr.on('data', (d) => (err = (err + d).slice(-4000)))
  const lines = []
  const waiting = []
  let partial = ''
  server.stdout.on('data', (d) => {
    partial += d
    const parts = partial.split('\n')
    partial = parts.pop()
    lines.push(...parts)
    for (const w of waiting.splice(0)) w()
  })
  const nextLine = (re, ms) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no line matching ${re} in ${ms / 1000} s:\n${err}`)), ms)
    const onExit = (code) => { clearTimeout(timer); reject(new Error(`${what} exited ${code}:\n${err}`)) }
    server.once('exit', onExit)
    const look = () => {
      const i = lines.findIndex((l) => re.test(l))
      if (i < 0) return waiting.push(look)
      clearTimeout(timer)
      server.off('exit', onExit)
      resolve(lines.splice(0, i + 1).pop())
    }
    look()
  })
  await nextLine(/ready/, timeoutMs)
  const stop = async () => {
    server.kill('SIGKILL')
    await exited
  }
  let majors = 0
  const countMajors = () => { for (let i = lines.length - 1; i >= 0; i--) if (lines[i] === 'probe {"edge":"major"}') { lines.splice(i, 1); majors++ } return majors }
  return { server, nextLine, majors: countMajors, stop, stderr: () => err }
}

export const probeArgs = ['--require', './probe.cjs']
const probe = (line) => JSON.parse(line.replace(/^probe /, ''))

/**
 * One repeat under callgrind: after `warmup` requests, instrumentation on and `settle` requests (valgrind's
 * slow start of instrumented code), requests until V8 runs a major GC by itself (at most `lead` of them),
 * counters zeroed, then the window: from that major GC to the next, or `window` requests if none
 * comes first. Whole GC cycles: a major GC and the re-optimization that follows it are charged once per
 * cycle, as a long-running server pays them.
 */
async function instructionRun({ fw, mode, warmup, settle, lead, window, dir, env, tag }) {
  const port = await freePort()
  const file = join(dir, `${fw}-${mode}-${tag}.out`)
  const traceFile = process.env.BENCH_V8_TRACE ? `${process.env.BENCH_V8_TRACE}.${fw}-${mode}-${tag}.txt` : undefined
  const traceFlags = traceFile ? ['--trace-opt', '--trace-deopt'] : []
  if (traceFile) writeFileSync(traceFile, '') // a run of its own, not appended to an earlier one's
  const args = [...callgrindArgs(dir, file), process.execPath, ...V8_FLAGS, ...traceFlags, ...semiSpace(INSTRUCTION_SEMI_SPACE_MB), ...probeArgs, ...modeArgs[mode](fw), servers[fw]]
  const s = await startServer({ command: 'valgrind', args, env: { ...env, ...SLOW_LINE_OUT_OF_REACH, PORT: String(port), BENCH_MODE: mode, BENCH_PROBE_MAJOR: '1' }, what: `${fw}/${mode} under callgrind`, timeoutMs: 300_000, traceFile })
  let requests
  let cycle
  // The same 4 connections from the first request to the last: a new one meets code of the agent's
  // (a connection's first request, its close) that the warm-up ran only for the first 4, and V8
  // deoptimized and optimized the request path again inside the window (Nest: 100k instructions of
  // compilation per request) when each phase opened connections of its own.
  const connections = new http.Agent({ keepAlive: true, maxSockets: 4 })
  try {
    await drive(port, warmup, undefined, undefined, connections)
    callgrindControl(dir, '--instr=on', s.server.pid)
    await drive(port, settle, undefined, undefined, connections)
    const m0 = s.majors()
    await drive(port, lead, () => s.majors() > m0, undefined, connections)
    callgrindControl(dir, '--zero', s.server.pid)
    if (traceFile) appendFileSync(traceFile, '=== window start\n')
    const m1 = s.majors()
    requests = await drive(port, window, () => s.majors() > m1, undefined, connections)
    cycle = m1 > m0 && s.majors() > m1 // the window ran from one major GC to the next
    callgrindControl(dir, '--dump', s.server.pid)
    if (traceFile) appendFileSync(traceFile, '=== window end\n')
  } finally {
    connections.destroy()
    await s.stop()
  }
  const dump = readdirSync(dir).find((f) => f.startsWith(`${fw}-${mode}-${tag}.out.`))
  if (!dump) throw new Error(`${fw}/${mode}: callgrind wrote no dump`)
  const result = { ...profileOf(join(dir, dump), requests), requests, cycle }
  if (!process.env.BENCH_KEEP_PROFILES) for (const f of readdirSync(dir)) if (f.startsWith(`${fw}-${mode}-${tag}.out`)) rmSync(join(dir, f))
  return result
}

/** One repeat without valgrind: JS heap bytes allocated per request, in a window with no GC. */
async function allocationRun({ fw, mode, warmup, window, env }) {
  const port = await freePort()
  const args = [...V8_FLAGS, ...semiSpace(ALLOCATION_SEMI_SPACE_MB), ...probeArgs, ...modeArgs[mode](fw), servers[fw]]
  const s = await startServer({ command: process.execPath, args, env: { ...env, ...SLOW_LINE_OUT_OF_REACH, PORT: String(port), BENCH_MODE: mode, BENCH_PROBE_GCS: '1' }, what: `${fw}/${mode}`, timeoutMs: 60_000 })
  // One set of connections throughout, as in instructionRun (code deoptimized inside the window runs
  // unoptimized, and unoptimized code boxes numbers that optimized code keeps in registers).
  const connections = new http.Agent({ keepAlive: true, maxSockets: 4 })
  try {
    await drive(port, warmup, undefined, undefined, connections)
    s.server.kill('SIGUSR2')
    const start = probe(await s.nextLine(/^probe /, 30_000))
    await drive(port, window, undefined, undefined, connections)
    s.server.kill('SIGUSR2')
    const end = probe(await s.nextLine(/^probe /, 30_000))
    if (end.gcs !== 0) throw new Error(`${fw}/${mode}: ${end.gcs} GC(s) inside the allocation window: raise the young generation or shorten the window`)
    return { bytes: (end.bytes - start.bytes) / window }
  } finally {
    connections.destroy()
    await s.stop()
  }
}

/** Checks the allocation method on a known allocation (probe.cjs run as a script). */
export function checkAllocation() {
  const out = execFileSync(process.execPath, [...V8_FLAGS, ...semiSpace(ALLOCATION_SEMI_SPACE_MB), '--expose-gc', join(here, 'probe.cjs')]).toString()
  return JSON.parse(out)
}

export const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 }
export const spread = (xs) => ({ min: Math.min(...xs), median: median(xs), max: Math.max(...xs), all: xs })

/** A fingerprint of the built agent the servers load (packages/*\/dist), to tell whether it changed during a run. */
export function distFingerprint() {
  const hash = createHash('sha256')
  for (const pkg of ['core', 'express', 'fastify', 'nest']) {
    const dir = join(here, '..', 'packages', pkg, 'dist')
    let files = []
    try { files = readdirSync(dir).filter((f) => /\.(c?js)$/.test(f)).sort() } catch { hash.update(`${pkg}: no dist`); continue }
    for (const f of files) hash.update(f).update(readFileSync(join(dir, f)))
  }
  return hash.digest('hex').slice(0, 12)
}

/** Runs a list of async tasks, `jobs` at a time, in order. */
export async function pool(tasks, jobs) {
  const results = new Array(tasks.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, async () => {
    while (next < tasks.length) { const i = next++; results[i] = await tasks[i]() }
  }))
  return results
}

/**
 * Every (framework, mode), `repeats` times under callgrind and `allocRepeats`
 * times for allocation; runs are ordered repeat by repeat (round-robin over the
 * configurations) and `jobs` at a time. Allocation takes more repeats: a run's
 * bytes fall in one of two modes about 80 bytes apart (Fastify, Node 20: whether V8
 * inlined Node's `processHeader` into `_storeHeader`, seen with V8's sampling heap
 * profiler, with or without the agent), so the median of 3 could pair runs of
 * different modes; a run costs seconds, not minutes.
 */
export async function measurePerRequest({ frameworks, modes, repeats = 3, allocRepeats = 9, warmup = 8000, settle = 500, lead = 5000, window = 4000, allocWarmup = 8000, allocWindow = 5000, jobs = 2, env = process.env, log = () => {} }) {
  const dir = mkdtempSync(join(tmpdir(), 'agent-instructions-'))
  const configs = frameworks.flatMap((fw) => modes.map((mode) => ({ fw, mode })))
  const runs = new Map(configs.map((c) => [`${c.fw}/${c.mode}`, { instructions: [], allocation: [] }]))
  const started = Date.now()
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)} s`
  try {
    const tasks = []
    for (let r = 1; r <= repeats; r++) {
      for (const c of configs) {
        tasks.push(async () => {
          const x = await instructionRun({ ...c, warmup, settle, lead, window, dir, env, tag: r })
          runs.get(`${c.fw}/${c.mode}`).instructions.push(x)
          log(`[${elapsed()}] ${c.fw} ${c.mode} #${r}: ${(x.total / 1000).toFixed(1)}k instructions/request = app ${(x.app / 1000).toFixed(1)}k + GC ${(x.gc / 1000).toFixed(1)}k + compile ${(x.compile / 1000).toFixed(1)}k (${x.requests} requests, ${x.scavenges} scavenges, ${x.majors} major GCs in the window${x.cycle ? ', which ended at a major GC' : ''})\n`)
        })
      }
    }
    for (let r = 1; r <= allocRepeats; r++) {
      for (const c of configs) {
        tasks.push(async () => {
          const x = await allocationRun({ ...c, warmup: allocWarmup, window: allocWindow, env })
          runs.get(`${c.fw}/${c.mode}`).allocation.push(x)
          log(`[${elapsed()}] ${c.fw} ${c.mode} allocation #${r}: ${Math.round(x.bytes)} bytes/request\n`)
        })
      }
    }
    await pool(tasks, jobs)
  } finally {
    if (process.env.BENCH_KEEP_PROFILES) log(`profiles kept in ${dir}\n`)
    else rmSync(dir, { recursive: true, force: true })
  }
  const rows = configs.map(({ fw, mode }) => {
    const { instructions, allocation } = runs.get(`${fw}/${mode}`)
    const of = (key) => spread(instructions.map((x) => x[key]))
    return { fw, mode, requests: of('requests'), cycles: instructions.filter((x) => x.cycle).length, total: of('total'), app: of('app'), gc: of('gc'), compile: of('compile'), scavenges: of('scavenges'), majors: of('majors'), bytes: spread(allocation.map((x) => x.bytes)) }
  })
  for (const r of rows) {
    const base = rows.find((x) => x.fw === r.fw && x.mode === 'none')
    if (!base || base === r) continue
    r.added = {
      app: r.app.median - base.app.median,
      appRatio: r.app.median / base.app.median,
      // Widest difference the repeats allow: this row's range against the baseline's.
      appLow: r.app.min - base.app.max,
      appHigh: r.app.max - base.app.min,
      gc: r.gc.median - base.gc.median,
      total: r.total.median - base.total.median,
      bytes: r.bytes.median - base.bytes.median,
    }
  }
  return { rows, repeats, allocRepeats, warmup, settle, lead, window, allocWarmup, allocWindow, seconds: Math.round((Date.now() - started) / 1000) }
}

/** Targets of issue 18: instructions the agent adds per request, the app's own work. */
export const TARGETS = { express: 0.01, nest: 0.01, fastify: 0.04 }

export function instructionsTable(result) {
  const k = (n) => (Number.isFinite(n) ? `${(n / 1000).toFixed(1)}k` : '')
  const sk = (n) => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${(n / 1000).toFixed(1)}k` : '')
  const range = (s, f = k) => `${f(s.median)} (${f(s.min)}–${f(s.max)})`
  const pct = (x) => `${x >= 1 ? '+' : ''}${((x - 1) * 100).toFixed(2)} %`
  const b = (n) => (Number.isFinite(n) ? `${Math.round(n).toLocaleString('en-US')}` : '')
  const sb = (n) => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${Math.round(n).toLocaleString('en-US')}` : '')
  const lines = [
    `Per request, median (min–max) of ${result.repeats} repeats for instructions and ${result.allocRepeats ?? result.repeats} for bytes. Instructions: callgrind, over a window from a major GC after request ${result.warmup} of each server run to the next major GC ("a cycle"), or ${result.window} requests where none came, split into the app's own work, GC and JIT compilation. Bytes: JS heap allocated over requests ${result.allocWarmup + 1} to ${result.allocWarmup + result.allocWindow} of a run with no GC in that window.`,
    '',
    "| framework | agent | window (requests) | app's own work | added | added, range | target | GC | GC added | compile | total | bytes allocated | bytes added |",
    '|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of result.rows) {
    const a = r.added
    const target = TARGETS[r.fw]
    const verdict = a && r.mode === 'agent' && target !== undefined ? `≤ +${target * 100} %: ${a.appRatio - 1 <= target ? 'met' : '**missed**'}` : ''
    const window = `${Math.round(r.requests.median)}${r.cycles === r.requests.all.length ? ' (a cycle)' : r.cycles ? ` (${r.cycles} of ${r.requests.all.length} a cycle)` : ''}`
    lines.push(`| ${r.fw} | ${r.mode} | ${window} | ${range(r.app)} | ${a ? `${sk(a.app)} (${pct(a.appRatio)})` : ''} | ${a ? `${sk(a.appLow)} to ${sk(a.appHigh)}` : ''} | ${verdict} | ${range(r.gc)} | ${a ? sk(a.gc) : ''} | ${range(r.compile)} | ${k(r.total.median)} | ${b(r.bytes.median)} (${b(r.bytes.min)}–${b(r.bytes.max)}) | ${a ? sb(a.bytes) : ''} |`)
  }
  return lines.join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: opt } = parseArgs({
    options: {
      frameworks: { type: 'string', default: 'express,fastify,nest' },
      modes: { type: 'string', default: 'none,agent,otel' },
      repeats: { type: 'string', default: '3' },
      'alloc-repeats': { type: 'string', default: '9' },
      warmup: { type: 'string', default: '8000' },
      settle: { type: 'string', default: '500' },
      lead: { type: 'string', default: '5000' },
      window: { type: 'string', default: '4000' },
      'alloc-warmup': { type: 'string', default: '8000' },
      'alloc-window': { type: 'string', default: '5000' },
      jobs: { type: 'string', default: '2' },
      json: { type: 'string' },
      'check-allocation': { type: 'boolean', default: false },
    },
  })
  const check = checkAllocation()
  process.stderr.write(`allocation method on a known allocation: ${JSON.stringify(check)}\n`)
  if (!check.ok) process.exit(1)
  if (opt['check-allocation']) process.exit(0)
  if (!valgrindAvailable()) {
    process.stderr.write('valgrind (with callgrind_control) is not installed: install it (Debian: apt-get install valgrind) to count instructions.\n')
    process.exit(2)
  }
  // A sink that accepts what the agents send, so no export failure is retried inside the window; a long
  // export interval leaves out once-per-interval work (under valgrind a run lasts minutes: it would be
  // charged about 50 times over to each request). OpenTelemetry's metric reader gets the same interval.
  const sink = await startSink()
  const env = { ...agentEnv(sink.url, 600_000), BENCH_EXPORT_INTERVAL_MS: '600000' }
  const before = distFingerprint()
  try {
    const result = await measurePerRequest({
      frameworks: opt.frameworks.split(','), modes: opt.modes.split(','), repeats: Number(opt.repeats), allocRepeats: Number(opt['alloc-repeats']), warmup: Number(opt.warmup), settle: Number(opt.settle), lead: Number(opt.lead), window: Number(opt.window),
      allocWarmup: Number(opt['alloc-warmup']), allocWindow: Number(opt['alloc-window']), jobs: Number(opt.jobs), env, log: (s) => process.stderr.write(s),
    })
    const after = distFingerprint()
    result.machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Linux ${os.release()}, Node ${process.version}`
    result.date = new Date().toISOString()
    result.flags = [...V8_FLAGS, ...semiSpace(INSTRUCTION_SEMI_SPACE_MB)]
    result.allocationFlags = [...V8_FLAGS, ...semiSpace(ALLOCATION_SEMI_SPACE_MB)]
    result.allocationCheck = check
    result.commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here }).toString().trim()
    result.dist = before === after ? before : `${before} -> ${after} (the built agent changed during the run)`
    result.exported = sink.counts
    if (opt.json) writeFileSync(opt.json, JSON.stringify(result, null, 2))
    process.stdout.write(instructionsTable(result) + '\n')
    process.stdout.write(`\nRun ${result.date} on ${result.machine}, ${result.seconds} s; HEAD ${result.commit}, agent build (packages/*/dist) ${result.dist}; V8 flags: ${result.flags.join(' ')}\n`)
  } finally {
    sink.close()
  }
}
