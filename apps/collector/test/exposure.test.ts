// Beyond loopback: the collector in a network namespace the test creates, reached over a veth
// pair at a non-loopback address, with keys, a dashboard password and https (self-signed).
// Where no namespace can be made (not root, no `ip`), the refusal without credentials is what is tested.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Aggregator, encodeMetrics, newIdentity, resourceAttributes } from '@agent/core/internal'
import { startCollector } from '../src/start-collector.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tmp = mkdtempSync(join(tmpdir(), 'exposure-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

test('beyond loopback without credentials the collector refuses to start, naming what is missing and how to give it', async () => {
  const dir = mkdtempSync(join(tmp, 'case-'))
  const none = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--host', '0.0.0.0', '--port', '0', '--db', join(dir, 'c.db')], { cwd: root, encoding: 'utf8', timeout: 30_000 })
  assert.equal(none.status, 1)
  assert.match(none.stderr, /refusing to listen on 0\.0\.0\.0/)
  assert.match(none.stderr, /--key KEY/)
  assert.match(none.stderr, /--dashboard-password/)
  const keyOnly = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--host', '::', '--port', '0', '--key', 'k', '--db', join(dir, 'c.db')], { cwd: root, encoding: 'utf8', timeout: 30_000 })
  assert.equal(keyOnly.status, 1)
  assert.doesNotMatch(keyOnly.stderr, /--key KEY/)
  assert.match(keyOnly.stderr, /--dashboard-password/)
  await assert.rejects(startCollector({ host: '10.0.0.1', port: 0, dbPath: join(dir, 'c.db'), dashboard: { user: 'a', password: 'b' } }), /refusing to listen on 10\.0\.0\.1.*no a key for reports/)
})

function request(url: string, ca: Buffer, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: options.method ?? 'GET', headers: options.headers, ca, timeout: 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject).on('timeout', () => req.destroy(new Error(`${url}: no answer in 10 s`)))
    req.end(options.body)
  })
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })

test('in a network namespace at a non-loopback address, over https: every /api/* route and the dashboard need the credential, reports need a key (either of two)', { timeout: 90_000 }, async (t) => {
  const tag = String(process.pid % 10000)
  const ns = `agentc${tag}`
  const octet = (process.pid % 200) + 20
  const [hostSide, nsSide] = [`vh${tag}`, `vn${tag}`]
  const [hostAddr, nsAddr] = [`10.231.${octet}.1`, `10.231.${octet}.2`]
  try {
    ip('netns', 'add', ns)
  } catch (err) {
    t.diagnostic(`no network namespace here (${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}): tested the refusal instead`)
    await assert.rejects(startCollector({ host: '10.231.0.2', port: 0, dbPath: join(mkdtempSync(join(tmp, 'case-')), 'c.db') }), /refusing to listen on 10\.231\.0\.2/)
    return
  }
  let collector: ReturnType<typeof spawn> | undefined
  try {
    ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', nsSide)
    ip('link', 'set', nsSide, 'netns', ns)
    ip('addr', 'add', `${hostAddr}/30`, 'dev', hostSide)
    ip('link', 'set', hostSide, 'up')
    ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${nsAddr}/30`, 'dev', nsSide)
    ip('netns', 'exec', ns, 'ip', 'link', 'set', nsSide, 'up')
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')

    const dir = mkdtempSync(join(tmp, 'case-'))
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=collector', '-addext', `subjectAltName=IP:${nsAddr}`, '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
    const ca = readFileSync(join(dir, 'cert.pem'))
    collector = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', 'src/cli.ts', '--host', nsAddr, '--port', '4318', '--db', join(dir, 'c.db'),
      '--key', 'old-key', '--key', 'new-key', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')],
    { cwd: root, env: { ...process.env, COLLECTOR_DASHBOARD_PASSWORD: 'team-secret' }, stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = new Promise((r) => collector!.once('exit', r))
    await new Promise<void>((resolve, reject) => {
      let out = ''
      collector!.stdout!.on('data', (d) => (out += d) && /listening on https:/.test(out) && resolve())
      exited.then(() => reject(new Error(`the collector exited: ${out}`)))
    })
    const base = `https://${nsAddr}:4318`
    const good = { authorization: `Basic ${Buffer.from('admin:team-secret').toString('base64')}` }
    const bad = { authorization: `Basic ${Buffer.from('admin:guess').toString('base64')}` }
    for (const path of ['/', '/dashboard.js', '/vendor/chart.js', '/api/services', '/api/summary', '/api/timeseries', '/api/runtime', '/api/processes', '/api/traces', '/api/errors']) {
      const without = await request(base + path, ca)
      assert.equal(without.status, 401, `${path} without the credential`)
      assert.match(String(without.headers['www-authenticate']), /^Basic /)
      assert.equal((await request(base + path, ca, { headers: bad })).status, 401, `${path} with a wrong password`)
      assert.equal((await request(base + path, ca, { headers: good })).status, 200, `${path} with the credential`)
    }
    const agg = new Aggregator(10)
    agg.record('GET', '/team', 3, false, false)
    const body = encodeMetrics({ resource: resourceAttributes({ serviceName: 'team', identity: newIdentity() }), interval: agg.drain() })
    const post = (headers: Record<string, string>) => request(`${base}/v1/metrics`, ca, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })
    const noKey = await post({})
    assert.equal(noKey.status, 401)
    assert.match(noKey.body, /x-agent-key/)
    assert.equal((await post({ 'x-agent-key': 'wrong' })).status, 401)
    // The dashboard credential is not a report key.
    assert.equal((await post(good)).status, 401)
    assert.equal((await post({ 'x-agent-key': 'old-key' })).status, 200)
    assert.equal((await post({ 'x-agent-key': 'new-key' })).status, 200)
    const summary = JSON.parse((await request(`${base}/api/summary?service=team`, ca, { headers: good })).body) as { endpoints: { count: number }[] }
    assert.equal(summary.endpoints[0]?.count, 2)
    // A client that does not trust the certificate is refused by TLS, not answered.
    await assert.rejects(request(`${base}/api/services`, Buffer.from('')), /certificate|self.signed/i)
  } finally {
    if (collector && collector.exitCode === null) {
      collector.kill('SIGTERM')
      await new Promise((r) => collector!.once('exit', r))
    }
    try { ip('netns', 'del', ns) } catch {}
    try { ip('link', 'del', hostSide) } catch {}
  }
})
