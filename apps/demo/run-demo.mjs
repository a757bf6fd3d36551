#!/usr/bin/env node
// The main job: starts the collector and a demo server in cluster mode (2
// workers), sends a short bounded load, prints what was sent next to what the
// collector counted, and serves the dashboard until Ctrl-C. With a Redis
// (REDIS_URL, or redis-server on PATH, started here on loopback in a temp
// folder) and the Express demo, a BullMQ job worker runs beside it and a route
// enqueues report jobs; without one, it says so and runs the web demo alone.
//   node apps/demo/run-demo.mjs [--demo express|fastify|nest] [--requests 1500] [--once]
import { spawn } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const { values: args } = parseArgs({
  options: {
    demo: { type: 'string', default: 'express' },
    requests: { type: 'string', default: '1500' },
    workers: { type: 'string', default: '2' },
    once: { type: 'boolean', default: false },
  },
})
const demos = {
  express: { cwd: 'apps/express-demo', argv: ['--import', '@agent/express/register', 'server.mjs'] },
  fastify: { cwd: 'apps/fastify-demo', argv: ['server.mjs'] },
  nest: { cwd: 'apps/nest-demo', argv: ['server.cjs'] },
}
const demo = demos[args.demo]
if (!demo) throw new Error(`--demo must be one of ${Object.keys(demos).join(', ')}`)
const total = Math.min(Math.max(Number(args.requests) || 1500, 1), 100_000)

const children = []
function start(name, argv, cwd, env) {
  const child = spawn(process.execPath, argv, { cwd: join(root, cwd), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
  child.stderr.setEncoding('utf8').on('data', (d) => process.stderr.write(d.replace(/^/gm, `  [${name}] `)))
  return {
    child,
    ready: (pattern) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start: ${out}`)), 30_000)
      const check = () => pattern.test(out) && (clearTimeout(timer), resolve())
      child.stdout.on('data', check)
      child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${out}`)))
      check()
    }),
  }
}

async function freePort(preferred) {
  const tryPort = (p) => new Promise((resolve) => {
    const s = net.createServer().once('error', () => resolve(undefined)).listen(p, '127.0.0.1', () => {
      const port = s.address().port
      s.close(() => resolve(port))
    })
  })
  return (await tryPort(preferred)) ?? (await tryPort(0))
}

function request(port, method, path, body) {
  return new Promise((resolve) => {
    const data = body ? JSON.stringify(body) : undefined
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: keepAlive, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
    })
    req.on('error', () => resolve(0))
    req.setTimeout(10_000, () => req.destroy())
    req.end(data)
  })
}
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 8 })

/**
 * The route mix: [endpoint as the collector names it, weight, method, path for
 * request i, body]. Two routes call the server itself: GET /api/outbound once
 * (GET /api/users/:id), GET /api/orders/:id/summary six times (GET
 * /api/products/:id/reviews, an N+1 pattern).
 */
let redis
const mix = [
  ['GET /api/users/:id', 40, 'GET', (i) => `/api/users/${i % 97}`],
  ['GET /api/products/:id/reviews', 25, 'GET', (i) => `/api/products/${i % 31}/reviews`],
  ['POST /api/orders', 15, 'POST', () => '/api/orders', (i) => ({ items: i % 10 === 0 ? [] : [{ sku: i }] })],
  ['GET /api/slow', 3, 'GET', () => '/api/slow'],
  ['GET /api/boom', 4, 'GET', () => '/api/boom'],
  ...(args.demo === 'nest' ? [] : [['GET /api/outbound', 5, 'GET', () => '/api/outbound']]),
  ...(args.demo === 'express' ? [['GET /api/orders/:id/summary', 2, 'GET', (i) => `/api/orders/${i}/summary`]] : []),
  ['GET (unmatched)', 3, 'GET', (i) => `/no/such/page/${i}`],
]
let weights = mix.reduce((n, m) => n + m[1], 0)
const pick = (i) => {
  let r = (i * 7919) % weights
  for (const m of mix) if ((r -= m[1]) < 0) return m
  return mix[0]
}

function bar(done, width = 30) {
  const filled = Math.round((done / total) * width)
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`
}

/** The Redis for the job worker: REDIS_URL, else a redis-server from PATH on loopback, else none (and why). */
function withJobs() {
  return redis?.url !== undefined && args.demo === 'express'
}
async function findRedis() {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, how: 'REDIS_URL' }
  const binary = (process.env.PATH ?? '').split(':').filter(Boolean).map((d) => join(d, 'redis-server')).find((p) => existsSync(p))
  if (!binary) return { why: 'no Redis: set REDIS_URL or put redis-server on PATH to run a BullMQ job worker beside the web demo' }
  const dir = mkdtempSync(join(tmpdir(), 'demo-redis-'))
  let server
  try {
    const port = await freePort(6380)
    server = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
    children.push(server)
    await new Promise((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 15_000)
      server.stdout.setEncoding('utf8').on('data', (d) => (out += d, /Ready to accept connections/.test(out) && (clearTimeout(timer), resolve())))
      server.once('exit', (code) => (clearTimeout(timer), reject(new Error(`redis-server exited with ${code}: ${out}`))))
      server.once('error', (err) => (clearTimeout(timer), reject(err)))
    })
    return { url: `redis://127.0.0.1:${port}`, how: `redis-server on 127.0.0.1:${port}`, server, dir }
  } catch (err) {
    await removeRedis({ server, dir })
    throw err
  }
}

/** Ends the redis-server started here if it still runs, then removes its folder. */
async function removeRedis({ server, dir }) {
  // A server that failed to spawn has a (negative) exitCode and emits no 'exit'.
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((r) => server.once('exit', r))
    server.kill('SIGTERM')
    await exited
  }
  rmSync(dir, { recursive: true, force: true })
}

async function main() {
  rmSync(join(root, '.data', 'demo.db'), { force: true })
  try {
    redis = await findRedis()
  } catch (err) {
    redis = { why: `no Redis: ${err.message.split('\n')[0]}` }
  }
  if (redis.url === undefined) process.stdout.write(`${redis.why}.\n`)
  else if (args.demo !== 'express') process.stdout.write(`Redis found (${redis.how}), but the job worker runs with the Express demo only.\n`)
  if (withJobs()) {
    mix.push(['POST /api/reports', 3, 'POST', () => '/api/reports', (i) => ({ n: i })])
    weights = mix.reduce((n, m) => n + m[1], 0)
  }
  const collectorPort = await freePort(4318)
  const collector = start('collector', ['--import', 'tsx', 'src/cli.ts', '--port', String(collectorPort), '--db', join(root, '.data', 'demo.db')], 'apps/collector', {})
  await collector.ready(/collector listening/)
  const appPort = await freePort(3000)
  const app = start(args.demo, demo.argv, demo.cwd, {
    PORT: String(appPort), WORKERS: args.workers, AGENT_NAME: `${args.demo}-demo`, AGENT_KEY: 'demo-key',
    AGENT_ENDPOINT: `http://127.0.0.1:${collectorPort}`, AGENT_FLUSH_INTERVAL_MS: '2000', AGENT_LOG_LEVEL: 'warn',
    ...(withJobs() ? { REDIS_URL: redis.url } : {}),
  })
  await app.ready(/listening/)
  let jobWorker
  if (withJobs()) {
    jobWorker = start('job-worker', ['job-worker.mjs'], 'apps/demo', {
      REDIS_URL: redis.url, AGENT_NAME: `${args.demo}-demo`, AGENT_KEY: 'demo-key',
      AGENT_ENDPOINT: `http://127.0.0.1:${collectorPort}`, AGENT_FLUSH_INTERVAL_MS: '2000', AGENT_LOG_LEVEL: 'warn',
    })
    await jobWorker.ready(/job worker ready/)
    process.stdout.write(`BullMQ job worker on the 'reports' queue (${redis.how}); POST /api/reports enqueues a report\n`)
  }
  await new Promise((r) => setTimeout(r, 500)) // let both workers come up
  process.stdout.write(`collector on http://127.0.0.1:${collectorPort}, ${args.demo}-demo with ${args.workers} workers on http://127.0.0.1:${appPort}\n`)

  const sent = new Map()
  const completed = new Map()
  let next = 0
  let done = 0
  const tty = process.stdout.isTTY
  const started = Date.now()
  const worker = async () => {
    while (next < total) {
      const i = next++
      const [endpoint, , method, path, body] = pick(i)
      sent.set(endpoint, (sent.get(endpoint) ?? 0) + 1)
      const status = await request(appPort, method, path(i), body?.(i))
      if (status > 0) completed.set(endpoint, (completed.get(endpoint) ?? 0) + 1)
      done++
      if (tty) process.stdout.write(`\r  load ${bar(done)}`)
      else if (done % Math.ceil(total / 5) === 0) process.stdout.write(`  load ${bar(done)}\n`)
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  if (tty) process.stdout.write('\n')
  // The routes that call the server itself add their calls to the endpoints they call.
  const outbound = completed.get('GET /api/outbound') ?? 0
  const summaries = completed.get('GET /api/orders/:id/summary') ?? 0
  const expected = new Map(completed)
  if (outbound) expected.set('GET /api/users/:id', (expected.get('GET /api/users/:id') ?? 0) + outbound)
  if (summaries) expected.set('GET /api/products/:id/reviews', (expected.get('GET /api/products/:id/reviews') ?? 0) + 6 * summaries)
  const completedTotal = [...completed.values()].reduce((a, b) => a + b, 0)
  const expectedTotal = completedTotal + outbound + 6 * summaries
  process.stdout.write(`  ${completedTotal} of ${total} requests completed in ${((Date.now() - started) / 1000).toFixed(1)} s; waiting for the agent's next report...\n`)

  // The agent reports every 2 s: wait until the collector has every request, for 20 s at most.
  let summary
  const deadline = Date.now() + 20_000
  do {
    await new Promise((r) => setTimeout(r, 500))
    summary = await fetch(`http://127.0.0.1:${collectorPort}/api/summary?service=${args.demo}-demo`).then((r) => r.json())
  } while (summary.endpoints.reduce((n, e) => n + e.count, 0) < expectedTotal && Date.now() < deadline)

  const counted = new Map(summary.endpoints.map((e) => [`${e.method} ${e.route}`, e]))
  const rows = [['endpoint', 'sent', 'completed', 'served', 'collector', 'errors', 'p50 ms', 'p95 ms', 'p99 ms']]
  for (const [endpoint] of mix) {
    const e = counted.get(endpoint)
    rows.push([endpoint, sent.get(endpoint) ?? 0, completed.get(endpoint) ?? 0, expected.get(endpoint) ?? 0, e?.count ?? 0, e?.errors ?? 0, e?.p50 ?? '-', e?.p95 ?? '-', e?.p99 ?? '-'].map(String))
  }
  const collectorTotal = summary.endpoints.reduce((n, e) => n + e.count, 0)
  rows.push(['total', String(total), String(completedTotal), String(expectedTotal), String(collectorTotal), '', '', '', ''])
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
  process.stdout.write('\n' + rows.map((r, i) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ') + (i === 0 ? '\n' + widths.map((w) => '-'.repeat(w)).join('  ') : '')).join('\n') + '\n\n')
  const match = collectorTotal === expectedTotal && [...expected].every(([endpoint, n]) => counted.get(endpoint)?.count === n)
  process.stdout.write(match
    ? `every request served is in the collector, per endpoint (${collectorTotal}; "served" adds the calls the server makes to itself).\n`
    : `MISMATCH: the collector counted ${collectorTotal} of ${expectedTotal} requests served.\n`)
  let jobsMatch = true
  if (withJobs()) jobsMatch = await reportJobs(collectorPort, completed.get('POST /api/reports') ?? 0)
  process.stdout.write(`\ndashboard: http://127.0.0.1:${collectorPort}/\n`)
  if (args.demo === 'express') {
    process.stdout.write('  where the time goes: GET /api/outbound and GET /api/orders/:id/summary spend theirs in the http layer\n')
    process.stdout.write('  N+1 queries: GET /api/orders/:id/summary calls GET /api/products/:id/reviews six times per request\n')
  }

  const stop = async (code) => {
    app.child.kill('SIGTERM')
    await new Promise((r) => (app.child.exitCode !== null ? r() : app.child.once('exit', r)))
    if (jobWorker) {
      jobWorker.child.kill('SIGTERM')
      await new Promise((r) => (jobWorker.child.exitCode !== null ? r() : jobWorker.child.once('exit', r)))
    }
    if (redis?.server) await removeRedis(redis)
    collector.child.kill('SIGTERM')
    await new Promise((r) => (collector.child.exitCode !== null ? r() : collector.child.once('exit', r)))
    keepAlive.destroy()
    process.exit(code)
  }
  if (args.once) return stop(match && jobsMatch ? 0 : 1)
  process.stdout.write('serving until Ctrl-C\n')
  process.once('SIGINT', () => stop(0))
  process.once('SIGTERM', () => stop(0))
}

/**
 * The report jobs enqueued, as the collector counts them: each settled once
 * (completed or failed for good; retried attempts counted apart), waiting for
 * the job worker's next report for 20 s at most. Prints them with the queue's
 * health; true if every job is there.
 */
async function reportJobs(collectorPort, enqueued) {
  const service = `${args.demo}-demo`
  let job
  const deadline = Date.now() + 20_000
  do {
    await new Promise((r) => setTimeout(r, 500))
    const jobs = await fetch(`http://127.0.0.1:${collectorPort}/api/jobs?service=${service}`).then((r) => r.json())
    job = (Array.isArray(jobs) ? jobs : jobs.jobs ?? []).find((j) => j.queue === 'reports')
  } while ((job?.completed ?? 0) + (job?.failed ?? 0) < enqueued && Date.now() < deadline)
  const queues = await fetch(`http://127.0.0.1:${collectorPort}/api/queues?service=${service}`).then((r) => r.json()).catch(() => [])
  const health = (Array.isArray(queues) ? queues : queues.queues ?? []).find((q) => q.queue === 'reports')
  const settled = (job?.completed ?? 0) + (job?.failed ?? 0)
  process.stdout.write(`jobs: ${enqueued} reports enqueued from POST /api/reports; the collector has reports/build-report ${job?.completed ?? 0} completed, ${job?.failed ?? 0} failed, ${job?.retried ?? 0} retried (p50 ${job?.p50 ?? '-'} ms, p95 ${job?.p95 ?? '-'} ms, mean wait ${job?.waitMean ?? '-'} ms)\n`)
  if (health) process.stdout.write(`  queue 'reports' now: ${Object.entries(health.states).map(([k, v]) => `${v} ${k}`).join(', ')}\n`)
  process.stdout.write(settled === enqueued ? `  every report job enqueued settled once in the collector (${settled}).\n` : `  MISMATCH: the collector has ${settled} of ${enqueued} report jobs settled.\n`)
  return settled === enqueued
}

main().catch(async (err) => {
  process.stderr.write(`demo failed: ${err.stack ?? err}\n`)
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  if (redis?.server) await removeRedis(redis)
  process.exit(1)
})
