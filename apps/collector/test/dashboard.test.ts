// The dashboard in a real browser (Debian's chromium, driven by playwright-core)
// after a real demo run: the express demo in cluster mode reporting to this collector.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import { Aggregator, encodeMetrics, newIdentity, resourceAttributes } from '@agent/core/internal'
import { startCollector } from '../src/start-collector.ts'


const here = dirname(fileURLToPath(import.meta.url))
const CHROMIUM = '/usr/bin/chromium'
const tmp = mkdtempSync(join(tmpdir(), 'dashboard-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    }).on('error', () => resolve(0))
  })
}

/** One report of `service` for an interval ending `agoMs` before now. */
function report(service: string, route: string, requests: number, agoMs: number): string {
  const agg = new Aggregator(10)
  for (let i = 0; i < requests; i++) agg.record('GET', route, 0.005, false, false)
  const interval = agg.drain()
  const end = Date.now() - agoMs
  return encodeMetrics({ resource: resourceAttributes({ serviceName: service, identity: newIdentity() }), interval: { ...interval, startMs: end - 1000, endMs: end } })
}

async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, attempts = 60): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const v = await read()
    if (done(v)) return v
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error(`${what}: not after ${attempts} attempts`)
}

test('after a demo run, the dashboard shows the demo endpoints with the right counts, charts, runtime health and stopped processes; range and service live in the URL', { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM}: scripts/ensure-chromium.sh installs it when run as root`, timeout: 120_000 }, async (t) => {
  // Credentials are optional on loopback; given here, the browser sends them as a user would.
  const dashboard = { user: 'admin', password: 'dash-secret' }
  const running = await startCollector({ host: '127.0.0.1', port: 0, dbPath: join(mkdtempSync(join(tmp, 'case-')), 'c.db'), dashboard })
  const collectorPort = Number(new URL(running.url).port)
  const auth = { authorization: `Basic ${Buffer.from('admin:dash-secret').toString('base64')}` }
  const api = (path: string) => fetch(`${running.url}${path}`, { headers: auth }).then((r) => r.json())

  const appPort = await new Promise<number>((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo
      s.close(() => resolve(port))
    })
  })
  const demo = spawn(process.execPath, ['--import', '@agent/express/register', 'server.mjs'], {
    cwd: join(here, '..', '..', 'express-demo'),
    env: { ...process.env, PORT: String(appPort), WORKERS: '2', AGENT_NAME: 'express-demo', AGENT_KEY: 'k', AGENT_ENDPOINT: `http://127.0.0.1:${collectorPort}`, AGENT_FLUSH_INTERVAL_MS: '1000', AGENT_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise((r) => demo.once('exit', r))
  try {
    await new Promise<void>((resolve, reject) => {
      let out = ''
      demo.stdout!.on('data', (d) => (out += d) && /listening/.test(out) && resolve())
      setTimeout(() => reject(new Error('demo did not start')), 30_000)
    })
    await new Promise((r) => setTimeout(r, 500))
    const plan: [string, number, (i: number) => string][] = [
      ['GET /api/users/:id', 60, (i) => `/api/users/${i}`],
      ['GET /api/products/:id/reviews', 30, (i) => `/api/products/${i}/reviews`],
      ['GET /api/boom', 10, () => '/api/boom'],
      ['GET (unmatched)', 5, (i) => `/nope/${i}`],
    ]
    for (const [, count, path] of plan) for (let i = 0; i < count; i++) assert.ok((await get(appPort, path(i))) > 0)
    demo.kill('SIGTERM') // graceful: the workers hand over their last interval, the primary exports it
    await exited
    // A report from 3 hours ago: inside the 6 h range, outside 1 h.
    assert.equal((await fetch(`${running.url}/v1/metrics`, { method: 'POST', body: report('express-demo', '/old', 7, 3 * 3_600_000), headers: { 'content-type': 'application/json' } })).status, 200)
    // The demo's processes stop reporting: each is marked stopped once silent for three of its intervals.
    await until('processes marked stopped', () => api('/api/processes?service=express-demo&range=15m') as Promise<{ role: string; stopped: boolean }[]>, (ps) => ps.filter((p) => p.role !== 'standalone').length === 3 && ps.every((p) => p.stopped))

    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 1500 }, httpCredentials: { username: dashboard.user, password: dashboard.password } })
      await page.goto(`http://127.0.0.1:${collectorPort}/?service=express-demo&range=1h`)
      await page.waitForSelector('body[data-shown="express-demo 1h"]', { timeout: 15_000 })
      const rows = await page.$$eval('#endpoints tbody tr', (trs) => Object.fromEntries(trs.map((tr) => [tr.getAttribute('data-endpoint'), { count: Number(tr.querySelector('[data-field="count"]')!.textContent!.replace(/,/g, '')), errors: Number(tr.querySelector('[data-field="errors"]')!.textContent) }])))
      for (const [endpoint, count] of plan) assert.equal(rows[endpoint]?.count, count, `${endpoint} in ${JSON.stringify(rows)}`)
      assert.equal(rows['GET /api/boom']!.errors, 10)
      assert.equal(await page.textContent('#total-requests'), '105')
      const labels = await page.evaluate(() => (globalThis as any).Chart.getChart('chart-throughput').data.datasets.map((d: { label: string }) => d.label))
      for (const [endpoint] of plan) assert.ok(labels.includes(endpoint), `throughput chart has ${endpoint}: ${labels}`)
      const roles = await page.$$eval('#processes tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-role')))
      assert.equal(roles.filter((r) => r === 'primary').length, 1)
      assert.equal(roles.filter((r) => r === 'worker').length, 2)
      assert.equal(rows['GET /old'], undefined, 'a report from 3 h ago is outside the 1 h range')
      const states = await page.$$eval('#processes tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-state'), tr.textContent]))
      for (const [state, text] of states) assert.ok(state === 'stopped' && /stopped \S/.test(text ?? ''), `stopped with when: ${text}`)
      // Runtime health, one line per process, for every figure.
      for (const id of ['chart-rt-delay', 'chart-rt-elu', 'chart-rt-cpu', 'chart-rt-heap', 'chart-rt-rss', 'chart-rt-gc']) {
        const lines = await page.evaluate((id) => (globalThis as any).Chart.getChart(id).data.datasets.map((d: { label: string; data: unknown[] }) => [d.label, d.data.length]), id)
        assert.ok(lines.length >= 2 && lines.every(([, n]: [string, number]) => n > 0), `${id}: ${JSON.stringify(lines)}`)
        assert.ok(lines.some(([label]: [string]) => label.startsWith('worker ')), `${id} labels: ${JSON.stringify(lines)}`)
      }
      // Throughput over the chosen range: 105 requests + 0 in 1 h.
      assert.equal(await page.textContent('#total-throughput'), `${(105 / 3600).toFixed(2)}/s`)

      // A wider range: the chosen range goes into the URL and every figure follows it.
      await page.selectOption('#range', '6h')
      await page.waitForSelector('body[data-shown="express-demo 6h"]')
      assert.match(page.url(), /range=6h/)
      assert.match(page.url(), /service=express-demo/)
      assert.equal(await page.textContent('#endpoints tr[data-endpoint="GET /old"] [data-field="count"]'), '7')
      assert.equal(await page.textContent('#total-requests'), '112')

      // A service appearing (sorted first) does not take the picker away from the chosen one.
      assert.equal((await fetch(`${running.url}/v1/metrics`, { method: 'POST', body: report('aaa-new', '/x', 1, 0), headers: { 'content-type': 'application/json' } })).status, 200)
      await page.waitForFunction(() => [...(globalThis as any).document.getElementById('service').options].some((o: { value: string }) => o.value === 'aaa-new'), undefined, { timeout: 15_000 })
      assert.equal(await page.$eval('#service', (s) => (s as any).value), 'express-demo')
      assert.equal(await page.textContent('#total-requests'), '112')

      // A reload keeps the service and range from the URL.
      await page.reload()
      await page.waitForSelector('body[data-shown="express-demo 6h"]', { timeout: 15_000 })
      assert.equal(await page.$eval('#range', (s) => (s as any).value), '6h')
      const out = join(here, '..', 'test-output')
      mkdirSync(out, { recursive: true })
      await page.screenshot({ path: join(out, 'dashboard.png'), fullPage: true })
      t.diagnostic(`screenshot: ${join(out, 'dashboard.png')}`)
    } finally {
      await browser.close()
    }
  } finally {
    if (demo.exitCode === null) demo.kill('SIGKILL')
    await running.close()
  }
})
