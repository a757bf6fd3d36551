// @agent/collector as a user gets it: built, packed, installed with npm into an empty folder and
// started with `npx @agent/collector`. Installing compiles better-sqlite3 from source here
// (no prebuilt binary is downloaded), which takes about a minute.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Aggregator, encodeMetrics, newIdentity, resourceAttributes } from '@agent/core/internal'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

test('packed, installed with npm in an empty folder and run with npx, the collector answers on a free port and stores a report', { timeout: 600_000 }, async (t) => {
  execFileSync(join(root, 'node_modules', '.bin', 'tsup'), { cwd: root, stdio: 'ignore', timeout: 120_000 })
  const dir = mkdtempSync(join(tmpdir(), 'collector-pack-'))
  execFileSync('npm', ['pack', '--pack-destination', dir], { cwd: root, stdio: 'ignore', timeout: 120_000 })
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!
  const app = join(dir, 'app')
  execFileSync('mkdir', [app])
  const started = performance.now()
  execFileSync('npm', ['install', '--no-audit', '--no-fund', join(dir, tarball)], { cwd: app, stdio: 'ignore', timeout: 480_000 })
  t.diagnostic(`npm install of the tarball: ${((performance.now() - started) / 1000).toFixed(0)} s`)

  const child = spawn('npx', ['--no-install', '@agent/collector', '--port', '0', '--db', 'data/c.db'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const exited = new Promise((r) => child.once('exit', r))
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = ''
      child.stdout!.on('data', (d) => {
        out += d
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
        if (m) resolve(m[1]!)
      })
      let err = ''
      child.stderr!.on('data', (d) => (err += d))
      exited.then(() => reject(new Error(`the collector exited: ${out} ${err}`)))
    })
    assert.equal((await fetch(`${url}/`)).status, 200)
    const agg = new Aggregator(10)
    agg.record('GET', '/packed', 4, false, false)
    const body = encodeMetrics({ resource: resourceAttributes({ serviceName: 'packed', identity: newIdentity() }), interval: agg.drain() })
    assert.equal((await fetch(`${url}/v1/metrics`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status, 200)
    const summary = (await (await fetch(`${url}/api/summary?service=packed`)).json()) as { endpoints: { route: string; count: number }[] }
    assert.deepEqual(summary.endpoints.map((e) => [e.route, e.count]), [['/packed', 1]])
  } finally {
    // npx and the collector under it: the group this test started.
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM')
    await exited
  }
})
