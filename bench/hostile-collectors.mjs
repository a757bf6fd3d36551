#!/usr/bin/env node
// The app's latency and CPU with the agent exporting every second to collectors that misbehave,
// side by side with one that answers: a 200 whose body is 512 MB, a 200 whose body trickles for
// 10 s, one that never answers, one that stores and then drops the connection. Each row: the
// Express bench server under the same load (autocannon, 10 connections), its p50/p99, its CPU
// per request from /proc, and how long it took to exit after SIGTERM.
//   node hostile-collectors.mjs [--duration 5]
import { spawn } from 'node:child_process'
import http from 'node:http'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { agentEnv, freePort, modeArgs, servers } from './configurations.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({ options: { duration: { type: 'string', default: '5' } } })

/** A collector that behaves as `mode` says; counts the bytes of body it managed to write. */
async function collector(mode) {
  const stats = { written: 0, reports: 0 }
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      stats.reports++
      if (mode === 'never') return
      if (mode === 'drop') return void req.socket.destroy()
      res.writeHead(200, { 'content-type': 'application/json' })
      if (mode === 'ok') return void res.end('{}')
      if (mode === 'trickle') {
        const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : (stats.written++, res.write(' '))), 100)
        setTimeout(() => (clearInterval(timer), res.destroyed || res.end()), 10_000).unref()
        return
      }
      const chunk = Buffer.alloc(64 * 1024, 32)
      const write = () => {
        while (stats.written < 512 * 1024 * 1024 && !res.destroyed) {
          stats.written += chunk.length
          if (!res.write(chunk)) return void res.once('drain', write)
        }
        res.end()
      }
      write()
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${server.address().port}`, stats, close: () => (server.closeAllConnections(), server.close()) }
}

const cpuOf = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10 // ms at 100 Hz
}

async function row(mode) {
  const sink = await collector(mode)
  const port = await freePort()
  const server = spawn(process.execPath, [...modeArgs.agent('express'), servers.express], { cwd: here, env: { ...agentEnv(sink.url, 1000), PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((r) => server.stdout.on('data', (d) => String(d).includes('ready') && r()))
  const cpuBefore = cpuOf(server.pid)
  const load = spawn(process.execPath, [join(here, 'load.mjs'), `http://127.0.0.1:${port}/users/42`, '10', opt.duration], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  load.stdout.on('data', (d) => (out += d))
  await new Promise((r) => load.on('exit', r))
  const result = JSON.parse(out)
  const cpuPerRequest = ((cpuOf(server.pid) - cpuBefore) * 1000) / result.requests
  const killedAt = Date.now()
  const exited = new Promise((r) => server.on('exit', r))
  server.kill('SIGTERM')
  await exited
  sink.close()
  return { mode, rps: Math.round(result.rps), p50: result.p50, p99: result.p99, cpuUs: cpuPerRequest.toFixed(1), exitMs: Date.now() - killedAt, reports: sink.stats.reports, bodyWritten: sink.stats.written }
}

process.stdout.write('| collector | req/s | p50 ms | p99 ms | CPU us/req | exit after SIGTERM ms | reports received | body bytes it wrote |\n|---|---:|---:|---:|---:|---:|---:|---:|\n')
for (const mode of ['ok', 'huge', 'trickle', 'never', 'drop']) {
  const r = await row(mode)
  process.stdout.write(`| ${r.mode} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.cpuUs} | ${r.exitMs} | ${r.reports} | ${r.bodyWritten} |\n`)
}
