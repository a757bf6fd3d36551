// The cluster app under PM2 cluster mode: PM2's daemon is the cluster primary
// and runs no app code, so no agent; every worker exports on its own.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'
import { freePort } from '@agent/test-helpers/ports.ts'
import { FIXTURES } from './helpers/fixtures.ts'
import { clusterLoad } from './helpers/cluster.ts'

const run = promisify(execFile)
const PM2 = join(FIXTURES, '..', '..', 'node_modules', '.bin', 'pm2')


async function waitForPort(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.end(), resolve(true)))
      s.on('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`nothing listened on ${port} within ${ms} ms`)
}

test('PM2 cluster mode, 2 instances: every request arrives once, under two worker instance ids', { timeout: 90_000 }, async (t) => {
  const sink = await OtlpSink.start()
  const home = mkdtempSync(join(tmpdir(), 'agent-pm2-'))
  const port = await freePort()
  const env = { ...process.env, PM2_HOME: home, PORT: String(port), AGENT_NAME: 'pm2-app', AGENT_KEY: 'k', AGENT_ENDPOINT: sink.url, AGENT_FLUSH_INTERVAL_MS: '60000', AGENT_LOG_LEVEL: 'warn' }
  try {
    await run(PM2, ['start', join(FIXTURES, 'cluster-app.cjs'), '-i', '2', '--name', 'agent-test'], { env, timeout: 30_000 })
    await waitForPort(port, 20_000)
    // Both instances up before the load, so both serve.
    const end = Date.now() + 20_000
    while (Date.now() < end) {
      const { stdout } = await run(PM2, ['jlist'], { env, timeout: 10_000 })
      const list = JSON.parse(stdout) as { pm2_env: { status: string } }[]
      if (list.filter((p) => p.pm2_env.status === 'online').length === 2) break
      await new Promise((r) => setTimeout(r, 200))
    }
    await new Promise((r) => setTimeout(r, 500))
    const completions = await clusterLoad(port, 300, 6)
    const pids = new Set(completions.map((c) => c.pid))
    t.diagnostic(`served by pids ${[...pids].join(', ')}`)
    // PM2 stops apps with SIGINT, then SIGKILL after its kill_timeout.
    await run(PM2, ['kill'], { env, timeout: 30_000 })
    assert.equal(sink.requests(), completions.length)
    const workers = new Map<string, Record<string, unknown>>()
    for (const body of sink.payloads('/v1/metrics')) for (const rm of body.resourceMetrics) {
      const a = Object.fromEntries(rm.resource.attributes.map((kv: any) => [kv.key, kv.value.stringValue ?? kv.value.boolValue ?? Number(kv.value.intValue)]))
      workers.set(a['service.instance.id'], a)
    }
    assert.equal(workers.size, 2, 'one resource per worker')
    for (const a of workers.values()) {
      assert.equal(a['agent.process.role'], 'worker')
      assert.equal(a['agent.pm2'], true)
    }
  } finally {
    await run(PM2, ['kill'], { env, timeout: 30_000 }).catch(() => {})
    rmSync(home, { recursive: true, force: true })
    await sink.close()
  }
})

test('PM2 with the agent by node_args and its settings in the ecosystem file\'s env, the daemon started first', { timeout: 90_000 }, async () => {
  const sink = await OtlpSink.start()
  const home = mkdtempSync(join(tmpdir(), 'agent-pm2-'))
  const port = await freePort()
  // The daemon's own environment has no AGENT_* at all: PM2 hands them to the app.
  const daemonEnv: NodeJS.ProcessEnv = { ...process.env, PM2_HOME: home }
  for (const name of Object.keys(daemonEnv)) if (name.startsWith('AGENT_')) delete daemonEnv[name]
  const ecosystem = join(home, 'ecosystem.config.cjs')
  writeFileSync(ecosystem, `module.exports = { apps: [{
    name: 'agent-env-test', script: ${JSON.stringify(join(FIXTURES, 'plain-app.cjs'))}, exec_mode: 'cluster', instances: 2,
    node_args: ['--require', ${JSON.stringify(join(FIXTURES, '..', '..', 'dist', 'preload.cjs'))}],
    env: { PORT: '${port}', AGENT_NAME: 'pm2-env-app', AGENT_KEY: 'k', AGENT_ENDPOINT: '${sink.url}', AGENT_FLUSH_INTERVAL_MS: '60000', AGENT_LOG_LEVEL: 'warn' },
  }] }\n`)
  try {
    await run(PM2, ['ping'], { env: daemonEnv, timeout: 30_000 })
    await run(PM2, ['start', ecosystem], { env: daemonEnv, timeout: 30_000 })
    await waitForPort(port, 20_000)
    const end = Date.now() + 20_000
    while (Date.now() < end) {
      const { stdout } = await run(PM2, ['jlist'], { env: daemonEnv, timeout: 10_000 })
      if ((JSON.parse(stdout) as { pm2_env: { status: string } }[]).filter((p) => p.pm2_env.status === 'online').length === 2) break
      await new Promise((r) => setTimeout(r, 200))
    }
    await new Promise((r) => setTimeout(r, 500))
    const completions = await clusterLoad(port, 200, 4)
    await run(PM2, ['kill'], { env: daemonEnv, timeout: 30_000 })
    assert.equal(sink.requests(), completions.length)
    const names = new Set<string>()
    for (const body of sink.payloads('/v1/metrics')) for (const rm of body.resourceMetrics) {
      for (const kv of rm.resource.attributes) if (kv.key === 'service.name') names.add(kv.value.stringValue)
    }
    assert.deepEqual([...names], ['pm2-env-app'])
  } finally {
    await run(PM2, ['kill'], { env: daemonEnv, timeout: 30_000 }).catch(() => {})
    rmSync(home, { recursive: true, force: true })
    await sink.close()
  }
})
