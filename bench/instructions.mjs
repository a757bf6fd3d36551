#!/usr/bin/env node
// Instructions per request, counted by valgrind's callgrind: the same for the
// same code whatever else the machine is doing, so it settles what timing on a
// shared machine cannot (a 2 us difference on a 120 us request). Each server
// runs twice, serving LOW and then HIGH requests; the difference divided by
// HIGH - LOW is the steady-state cost of one request, start-up and warm-up
// cancelled out. JIT compilation that happens to land in that window is
// reported apart and left out of the steady count.
//   node instructions.mjs [--frameworks express,fastify,nest --modes none,agent --low 8000 --high 16000]
import { execFileSync, spawn } from 'node:child_process'
import http from 'node:http'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { agentEnv, freePort, modeArgs, servers, startSink } from './configurations.mjs'

const here = dirname(fileURLToPath(import.meta.url))
/** Functions of V8's compilers and parser: one-off work, not the per-request path. */
const COMPILE = /v8::internal::(compiler|maglev|interpreter|baseline|Parser|Scanner|AstValueFactory|Zone)|Pipeline|GraphReducer|RegisterAllocat/

export function valgrindAvailable() {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
    // callgrind_annotate exits non-zero on --version: ask the shell whether it is there.
    execFileSync('sh', ['-c', 'command -v callgrind_annotate'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Sequential keep-alive requests from 4 connections, exactly `count` of them. */
async function drive(port, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
  const one = () => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/users/42', agent }, (res) => { res.resume(); res.on('end', resolve) }).on('error', reject)
  })
  let sent = 0
  await Promise.all(Array.from({ length: 4 }, async () => { while (sent < count) { sent++; await one() } }))
  agent.destroy()
}

/** Total and compile-time instructions of one callgrind profile. */
function countsOf(file) {
  const out = execFileSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], { maxBuffer: 256 * 2 ** 20 }).toString()
  let total = 0
  let compile = 0
  for (const line of out.split('\n')) {
    const m = /^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$/.exec(line)
    if (!m || line.includes('PROGRAM TOTALS')) continue
    const n = Number(m[1].replaceAll(',', ''))
    total += n
    if (COMPILE.test(m[2])) compile += n
  }
  return { total, compile }
}

async function profile(fw, mode, count, dir, env) {
  const port = await freePort()
  const file = join(dir, `${fw}-${mode}-${count}.out`)
  const argv = ['--tool=callgrind', `--callgrind-out-file=${file}`, process.execPath, '--single-threaded', ...modeArgs[mode](fw), servers[fw]]
  const server = spawn('valgrind', argv, { cwd: here, env: { ...env, PORT: String(port), BENCH_MODE: mode }, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise((resolve) => server.once('exit', resolve))
  let err = ''
  server.stderr.on('data', (d) => (err = (err + d).slice(-4000)))
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${fw}/${mode} did not start under valgrind in 180 s:\n${err}`)), 180_000)
    server.stdout.on('data', (d) => { if (String(d).includes('ready')) { clearTimeout(timer); resolve() } })
    server.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${fw}/${mode} exited ${code} under valgrind:\n${err}`)) })
  })
  await drive(port, count)
  server.kill('SIGTERM')
  const killer = setTimeout(() => server.kill('SIGKILL'), 60_000)
  await exited
  clearTimeout(killer)
  return countsOf(file)
}

/** Runs every (framework, mode) at LOW and HIGH, two profiles at a time. */
export async function countInstructions({ frameworks, modes, low, high, env = process.env, log = () => {} }) {
  const dir = mkdtempSync(join(tmpdir(), 'agent-instructions-'))
  try {
    const rows = []
    for (const fw of frameworks) {
      for (const mode of modes) {
        log(`instructions: ${fw} ${mode} (${low} and ${high} requests under callgrind)... `)
        const [a, b] = await Promise.all([profile(fw, mode, low, dir, env), profile(fw, mode, high, dir, env)])
        const n = high - low
        const row = { fw, mode, perRequest: (b.total - a.total) / n, compilePerRequest: (b.compile - a.compile) / n }
        row.steadyPerRequest = row.perRequest - row.compilePerRequest
        rows.push(row)
        log(`${Math.round(row.steadyPerRequest)} instructions/request\n`)
      }
    }
    for (const r of rows) {
      const base = rows.find((x) => x.fw === r.fw && x.mode === 'none')
      if (base && r !== base) {
        r.added = r.steadyPerRequest - base.steadyPerRequest
        r.ratio = r.steadyPerRequest / base.steadyPerRequest
      }
    }
    return rows
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export function instructionsTable(rows, low, high) {
  const k = (n) => (Number.isFinite(n) ? `${(n / 1000).toFixed(1)}k` : '')
  return [
    `Instructions per request (callgrind, requests ${low + 1} to ${high} of one server run, JIT compilation left out):`,
    '',
    '| framework | agent | instructions/request | added | ratio | JIT compile in window |',
    '|---|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.fw} | ${r.mode} | ${k(r.steadyPerRequest)} | ${r.added === undefined ? '' : k(r.added)} | ${r.ratio === undefined ? '' : r.ratio.toFixed(3)} | ${k(r.compilePerRequest)} |`),
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: opt } = parseArgs({
    options: {
      frameworks: { type: 'string', default: 'express,fastify,nest' },
      modes: { type: 'string', default: 'none,agent' },
      low: { type: 'string', default: '8000' },
      high: { type: 'string', default: '16000' },
    },
  })
  if (!valgrindAvailable()) {
    process.stderr.write('valgrind (with callgrind_annotate) is not installed: install it (Debian: apt-get install valgrind) to count instructions.\n')
    process.exit(2)
  }
  const low = Number(opt.low)
  const high = Number(opt.high)
  // A sink that accepts what the agent sends, so no export failure is retried inside the window;
  // a long interval leaves out once-per-interval work (see run-bench.mjs).
  const sink = await startSink()
  const env = agentEnv(sink.url, 600_000)
  try {
    const rows = await countInstructions({ frameworks: opt.frameworks.split(','), modes: opt.modes.split(','), low, high, env, log: (s) => process.stderr.write(s) })
    process.stdout.write(instructionsTable(rows, low, high) + '\n')
  } finally {
    sink.close()
  }
}
