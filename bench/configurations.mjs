// What the harnesses run and send to, and how they drive callgrind: shared by run-bench.mjs, instructions.mjs, calls.mjs and jobs.mjs.
import { execFileSync } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'

export const servers = { express: 'servers/express.mjs', fastify: 'servers/fastify.mjs', nest: 'servers/nest.cjs', plain: 'servers/plain.mjs', 'express-cluster': 'servers/express-cluster.mjs' }
const agentArgs = { express: ['--import', '@agent/express/register'], fastify: ['--import', '@agent/fastify/register'], nest: [], plain: ['--import', '@agent/core/preload'], 'express-cluster': ['--import', '@agent/express/register'] }

/** How each configuration loads into the server: the way each project's docs say. */
export const modeArgs = {
  none: () => [],
  // @agent/core alone (its preload), without the framework integration: it splits the cost.
  core: () => ['--import', '@agent/core/preload'],
  agent: (fw) => agentArgs[fw],
  // No agent: a subscriber that does nothing on each HTTP channel @agent uses (Node's own cost of publishing).
  channels: () => ['--import', './channels-setup.mjs'],
  // No agent: the least a per-request latency from those channels can cost (a clock at each end, one histogram).
  floor: () => ['--import', './floor-setup.mjs'],
  otel: () => ['--import', './otel-setup.mjs'],
  dd: () => ['--require', './dd-setup.cjs'],
  elastic: () => ['--require', './elastic-setup.cjs'],
}

/** The environment every server runs with: @agent's settings, and the sink for every agent. */
export function agentEnv(sinkUrl, flushIntervalMs) {
  return { ...process.env, AGENT_NAME: 'bench', AGENT_KEY: 'k', AGENT_ENDPOINT: sinkUrl, AGENT_FLUSH_INTERVAL_MS: String(flushIntervalMs), AGENT_LOG_LEVEL: 'warn', BENCH_SINK: sinkUrl }
}

export const freePort = () => new Promise((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) }) })

/**
 * The sink every agent exports to: answers 200 and counts the payloads (requests with a body).
 * Each answer closes its connection, so an exporter's socket goes through its whole life (connect,
 * answer, close) at its first export, before any measured window, as a production exporter's does
 * within its first report intervals. A kept-alive connection was closed by this server's 5 s idle
 * timeout at a point that depended on valgrind's pace, often inside a window, where the stream
 * functions that the close reached for the first time with a client socket were deoptimized and
 * optimized again: 20k-38k instructions of compilation per Fastify request, once per process.
 */
export async function startSink() {
  const counts = { payloads: 0, bytes: 0 }
  const server = http.createServer((req, res) => {
    let bytes = 0
    req.on('data', (c) => (bytes += c.length))
    req.on('end', () => {
      counts.bytes += bytes
      if (bytes > 0) counts.payloads++
      res.writeHead(200, { 'content-type': 'application/json', connection: 'close' }).end('{}')
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${server.address().port}`, counts, close: () => server.close() }
}

/**
 * valgrind's options for a callgrind run whose files go in `dir`, and callgrind_control for it.
 * The gdbserver FIFOs that callgrind_control talks through go in `dir` too, which the harness
 * removes: by default valgrind makes three in /tmp per process and leaves them there when the
 * process is killed, as the harness kills its servers (1,764 of them after a day of runs here).
 */
export function callgrindArgs(dir, outFile) {
  return ['--tool=callgrind', '--instr-atstart=no', `--vgdb-prefix=${join(dir, 'vgdb')}`, `--callgrind-out-file=${outFile}`]
}

/** `callgrind_control <action> <pid>` for a process started with `callgrindArgs(dir, ...)`. */
export function callgrindControl(dir, action, pid) {
  execFileSync('callgrind_control', [`--vgdb-prefix=${join(dir, 'vgdb')}`, action, String(pid)], { stdio: 'ignore', timeout: 120_000 })
}
