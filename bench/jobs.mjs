#!/usr/bin/env node
// Per-job cost counted, not timed: instructions per job (valgrind's callgrind)
// of a BullMQ worker whose processor does nothing, with no agent and with
// @agent, side by side in one run, over several repeats (min, median, max).
//
// One worker process per repeat and mode (servers/jobs-worker.cjs), on a
// Redis of the bench's own (redis-server on loopback, no persistence, a temp
// folder): it starts under callgrind with instrumentation off and the V8 flags
// of instructions.mjs, processes WARMUP jobs (the JIT settles), pauses and
// queues WINDOW jobs; then `callgrind_control -i on`, it resumes and processes
// them, `callgrind_control --dump`: the dump holds exactly the window. What a
// job costs includes BullMQ's own work (fetching, locking and completing it in
// Redis, its events); the agent's part is the difference.
// Measured here (median of 3, 1000 jobs after 8000): Node 20.20 674.7k without
// the agent, 852.2k with it (+177k; an AsyncLocalStorage alone, on Node 20's
// async hooks, adds 57k to this worker); Node 24.21 478.4k and 541.8k (+63k).
//   node jobs.mjs [--repeats 3 --warmup 3000 --window 1000 --json out.json]
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { agentEnv, callgrindArgs, callgrindControl, freePort, startSink } from './configurations.mjs'
import { V8_FLAGS, profileOf, valgrindAvailable } from './instructions.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const MODES = ['none', 'agent']

/** A Redis of the bench's own; resolves once it accepts connections. */
async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'))
  let server
  // Its folder goes once it has exited: SIGTERM, SIGKILL after 5 s.
  const stop = async () => {
    // A server that failed to spawn has a (negative) exitCode and emits no 'exit'.
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve))
      server.kill('SIGTERM')
      const timer = setTimeout(() => server.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const port = await freePort()
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
    await new Promise((resolve, reject) => {
      let out = ''
      server.stdout.on('data', (d) => { out += d; if (/Ready to accept connections/.test(out)) resolve() })
      server.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)))
      server.once('error', reject)
    })
    return { port, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

function startWorker(args, env) {
  const child = spawn(args[0], args.slice(1), { cwd: here, env, stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  const waiters = []
  child.stdout.on('data', (d) => { out += d; for (const w of waiters.splice(0)) w() })
  child.stderr.on('data', (d) => (err = (err + d).slice(-4000)))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const line = (re, ms) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms; stderr: ${err}`)), ms)
    const check = () => { if (re.test(out)) { clearTimeout(timer); resolve() } else waiters.push(check) }
    exited.then(() => { clearTimeout(timer); reject(new Error(`worker exited before ${re}; stderr: ${err}`)) })
    check()
  })
  return { child, line, exited }
}

async function run({ mode, repeat, warmup, window, redisPort, dir, sinkUrl }) {
  const file = join(dir, `${mode}-${repeat}.out`)
  const env = { ...agentEnv(sinkUrl, 60_000), BENCH_MODE: mode, REDIS_PORT: String(redisPort), QUEUE: `bench-${mode}-${repeat}`, WARMUP: String(warmup), WINDOW: String(window) }
  const w = startWorker(['valgrind', ...callgrindArgs(dir, file), process.execPath, ...V8_FLAGS, join(here, 'servers', 'jobs-worker.cjs')], env)
  try {
    await w.line(/^ready/m, 600_000)
    callgrindControl(dir, '--instr=on', w.child.pid)
    w.child.stdin.write('go\n')
    await w.line(/^done/m, 600_000)
    callgrindControl(dir, '--dump', w.child.pid)
  } finally {
    w.child.kill('SIGKILL')
    await w.exited
  }
  const dump = readdirSync(dir).find((f) => f.startsWith(`${mode}-${repeat}.out.`))
  if (!dump) throw new Error(`${mode}: callgrind wrote no dump`)
  const result = profileOf(join(dir, dump), window)
  if (!process.env.BENCH_KEEP_PROFILES) for (const f of readdirSync(dir)) if (f.startsWith(`${mode}-${repeat}.out`)) rmSync(join(dir, f))
  return result
}

const stats = (xs) => { const s = [...xs].sort((a, b) => a - b); return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] } }
const k = (n) => `${(n / 1000).toFixed(1)}k`

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { repeats: { type: 'string', default: '3' }, warmup: { type: 'string', default: '3000' }, window: { type: 'string', default: '1000' }, json: { type: 'string' } } })
  if (!valgrindAvailable()) {
    process.stderr.write('valgrind (with callgrind_control) is not installed: install it (Debian: apt-get install valgrind) to count instructions.\n')
    process.exit(1)
  }
  const repeats = Number(values.repeats)
  const warmup = Number(values.warmup)
  const window = Number(values.window)
  const results = { none: [], agent: [] }
  let redis, sink, dir
  try {
    redis = await startRedis()
    sink = await startSink()
    dir = mkdtempSync(join(tmpdir(), 'bench-jobs-'))
    // Interleaved, so drift on the machine touches both modes alike.
    for (let r = 0; r < repeats; r++) for (const mode of MODES) results[mode].push(await run({ mode, repeat: r, warmup, window, redisPort: redis.port, dir, sinkUrl: sink.url }))
  } finally {
    await redis?.stop()
    await sink?.close?.()
    if (dir && process.env.BENCH_KEEP_PROFILES) process.stderr.write(`profiles kept in ${dir}\n`)
    else if (dir) rmSync(dir, { recursive: true, force: true })
  }
  const none = stats(results.none.map((x) => x.total))
  const agent = stats(results.agent.map((x) => x.total))
  const added = stats(results.agent.map((x, i) => x.total - results.none[i].total))
  const out = { node: process.version, warmup, window, repeats, instructionsPerJob: { none, agent, added }, app: { none: stats(results.none.map((x) => x.app)), agent: stats(results.agent.map((x) => x.app)) } }
  process.stdout.write(`BullMQ job that does nothing, instructions per job (callgrind, ${repeats} repeats of ${window} jobs after ${warmup}; Node ${process.version}):\n`)
  process.stdout.write(`  no agent   median ${k(none.median)}  (min ${k(none.min)}, max ${k(none.max)})\n`)
  process.stdout.write(`  @agent     median ${k(agent.median)}  (min ${k(agent.min)}, max ${k(agent.max)})\n`)
  process.stdout.write(`  added      median ${k(added.median)}  (min ${k(added.min)}, max ${k(added.max)}) per job\n`)
  if (values.json) writeFileSync(values.json, JSON.stringify(out, null, 2))
}
