#!/usr/bin/env node
// Typechecks and runs every package's tests through turbo, one task at a time
// (2-core CI), on the machine's Node; then runs the tests again on each other
// supported Node version (TEST_NODE_VERSIONS, default 22,24,26, from the
// npm registry). Ends with one summary line per Node version, counting
// node:test results across packages. The database servers the tests run
// against (PostgreSQL, Redis, MariaDB) are installed first where missing.
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { installServers } from './install-servers.mjs'
import { ensureNode, restoreNativeAddons, withNativeAddonsFor } from './node-versions.mjs'

const extraArgs = process.argv.slice(2)
const versions = (process.env.TEST_NODE_VERSIONS ?? '22,24,26').split(',').map((v) => v.trim()).filter(Boolean)
// A whole pass on one Node version takes about 4 minutes here. Past this limit
// something hangs: the pass is stopped and reported, so the run as a whole
// always ends, within CI's limit, with the reason.
const passLimitMinutes = Number(process.env.TEST_PASS_LIMIT_MINUTES ?? 15)

/** Sends `signal` to a pass's process group (turbo and all it started). */
function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal)
  } catch {
    // Already gone.
  }
}

/** The pass under way: stopped with this script (its own process group does not get the terminal's Ctrl-C). */
let running
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (running) signalGroup(running, signal)
    process.exit(1)
  })
}

/** Runs turbo with `tasks`, `env` on top; streams its output and counts the node:test results. */
function turbo(tasks, env) {
  return new Promise((resolve) => {
    const child = spawn('npx', ['turbo', 'run', ...tasks, '--concurrency=1', '--log-order=stream', ...extraArgs], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1', ...env },
      // Its own process group: a pass past its limit is stopped whole, the servers its tests started included.
      detached: true,
    })
    const counts = { passed: 0, failed: 0, skipped: 0 }
    let buffer = ''
    let lastTask = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      process.stdout.write(chunk)
      buffer += chunk
      const lines = buffer.split('\n')
      buffer = lines.pop() ?? ''
      for (const line of lines) {
        lastTask = /^([@\w/.-]+:[\w-]+):/.exec(line)?.[1] ?? lastTask
        // TAP writes "# pass 3", the spec reporter (Node 24 and later) "ℹ pass 3"; turbo prefixes the task.
        const m = /(?:#|ℹ) (pass|fail|skipped) (\d+)\s*$/.exec(line)
        if (m) counts[m[1] === 'pass' ? 'passed' : m[1] === 'fail' ? 'failed' : 'skipped'] += Number(m[2])
      }
    })
    running = child
    let timedOut = false
    const limit = setTimeout(() => {
      timedOut = true
      process.stdout.write(`\n!!! this pass did not finish within ${passLimitMinutes} minutes (TEST_PASS_LIMIT_MINUTES); it is stopped. Last output came from ${lastTask || 'no task'}: a test there hangs, or leaves a server or timer that keeps its process alive.\n`)
      signalGroup(child, 'SIGTERM')
      setTimeout(() => signalGroup(child, 'SIGKILL'), 10_000).unref()
    }, passLimitMinutes * 60_000)
    child.on('exit', (code) => {
      clearTimeout(limit)
      resolve({ ok: code === 0 && !timedOut, counts, timedOut, lastTask })
    })
  })
}

/** The summary line of one pass. */
function summaryLine(version, result) {
  const line = `Node ${version}: ${result.counts.passed} passed, ${result.counts.failed} failed, ${result.counts.skipped} skipped`
  return result.timedOut ? `${line}; stopped after ${passLimitMinutes} minutes (last output from ${result.lastTask || 'no task'})` : line
}

// Without them the database suites fail, each saying which server is missing.
installServers()
restoreNativeAddons()
const summary = []
let ok = true
const first = await turbo(['typecheck', 'test'], {})
summary.push(summaryLine(process.versions.node, first))
ok &&= first.ok
for (const major of versions) {
  let result
  try {
    const dir = ensureNode(major)
    const path = `${join(dir, 'bin')}:${process.env.PATH}`
    const version = spawnSync(join(dir, 'bin', 'node'), ['--version'], { encoding: 'utf8' }).stdout.trim()
    process.stdout.write(`\n=== tests on Node ${version} ===\n`)
    // The native addon is the collector's (better-sqlite3, on Node 20 and 22: from 24 on it uses node:sqlite).
    const run = () => turbo(['test'], { PATH: path })
    result = Number(major) >= 24 ? await run() : await withNativeAddonsFor(dir, major, run)
    summary.push(summaryLine(version.replace(/^v/, ''), result))
  } catch (err) {
    summary.push(`Node ${major}: could not run (${err.message})`)
    result = { ok: false }
  }
  ok &&= result.ok
}
process.stdout.write(`\ntests:\n${summary.map((s) => `  ${s}`).join('\n')}\n`)
process.exit(ok ? 0 : 1)
