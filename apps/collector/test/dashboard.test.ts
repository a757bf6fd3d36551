// The dashboard in a real browser (Debian's chromium, driven by playwright-core)
// after a real demo run: the express demo in cluster mode reporting to this collector.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import { createCollectorServer } from '../src/collector-server.ts'
import { Store } from '../src/store.ts'

const here = dirname(fileURLToPath(import.meta.url))
const CHROMIUM = '/usr/bin/chromium'

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    }).on('error', () => resolve(0))
  })
}

test('after a demo run, the dashboard shows the demo endpoints with the right counts, charts and processes', { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM}: scripts/ensure-chromium.sh installs it when run as root`, timeout: 120_000 }, async (t) => {
  const store = new Store(join(mkdtempSync(join(tmpdir(), 'dashboard-')), 'c.db'))
  const server = createCollectorServer({ store })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const collectorPort = (server.address() as AddressInfo).port

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

    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 1100 } })
      await page.goto(`http://127.0.0.1:${collectorPort}/`)
      await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 })
      const rows = await page.$$eval('#endpoints tbody tr', (trs) => Object.fromEntries(trs.map((tr) => [tr.getAttribute('data-endpoint'), { count: Number(tr.querySelector('[data-field="count"]')!.textContent!.replace(/,/g, '')), errors: Number(tr.querySelector('[data-field="errors"]')!.textContent) }])))
      for (const [endpoint, count] of plan) assert.equal(rows[endpoint]?.count, count, `${endpoint} in ${JSON.stringify(rows)}`)
      assert.equal(rows['GET /api/boom']!.errors, 10)
      assert.equal(await page.textContent('#total-requests'), '105')
      const labels = await page.evaluate(() => (globalThis as any).Chart.getChart('chart-throughput').data.datasets.map((d: { label: string }) => d.label))
      for (const [endpoint] of plan) assert.ok(labels.includes(endpoint), `throughput chart has ${endpoint}: ${labels}`)
      const roles = await page.$$eval('#processes tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-role')))
      assert.equal(roles.filter((r) => r === 'primary').length, 1)
      assert.equal(roles.filter((r) => r === 'worker').length, 2)
      const out = join(here, '..', 'test-output')
      mkdirSync(out, { recursive: true })
      await page.screenshot({ path: join(out, 'dashboard.png'), fullPage: true })
      t.diagnostic(`screenshot: ${join(out, 'dashboard.png')}`)
    } finally {
      await browser.close()
    }
  } finally {
    if (demo.exitCode === null) demo.kill('SIGKILL')
    await new Promise<void>((r) => server.close(() => r()))
    store.close()
  }
})
