// The same scenario against every framework integration: routes with
// parameters and prefixes, 404s, errors thrown sync and async, an error the
// app handles, a slow route, a client abort and a request full of secrets.
import assert from 'node:assert/strict'
import http from 'node:http'
import { OtlpSink } from './otlp-sink.ts'
import { runFixture, exitWithin } from './processes.ts'
import { get } from './load.ts'

export const SECRETS = ['hunter2-password', 'tok-5ecret', 'Bearer sk_live_abc', 'session=s3cr3t', 'pin-9911']

export function send(port: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body)
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}) } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(data)
  })
}

/** Aborts a request once the server has it. */
function abortAfter(port: string, path: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path })
    req.on('error', () => resolve())
    setTimeout(() => {
      req.destroy()
      resolve()
    }, ms)
  })
}

export interface Outcome {
  endpoints: Record<string, { count: number; errors: number; aborted: number }>
  errors: { type: string; message: string; route: string; raw: string }[]
  raw: string
  framework: unknown
  spanNames: string[]
}

export interface ExerciseOptions {
  file: string
  cwd: string
  env: Record<string, string>
  execArgv?: string[]
  /** Framework-specific requests, after the common ones. */
  extra?: (port: string) => Promise<void>
}

export async function exercise({ file, cwd, env, execArgv = [], extra }: ExerciseOptions): Promise<Outcome & { stderr: string }> {
  const sink = await OtlpSink.start()
  const run = runFixture(file, { AGENT_NAME: 'framework-test', AGENT_KEY: 'k', AGENT_ENDPOINT: sink.url, AGENT_LOG_LEVEL: 'warn', AGENT_SENSITIVE_KEYS: 'password,token,secret,pin', ...env }, { execArgv, cwd })
  const port = (await run.waitFor(/^listening/)).split(' ')[1]!
  for (let i = 0; i < 3; i++) assert.equal((await get(`http://127.0.0.1:${port}/users/${i}`)).status, 200)
  assert.equal((await get(`http://127.0.0.1:${port}/api/v1/orders/77`)).status, 200)
  assert.equal((await get(`http://127.0.0.1:${port}/api/v1/status`)).status, 200)
  await extra?.(port)
  for (const p of ['/nope/1', '/nope/2', '/x/y/z']) assert.equal((await get(`http://127.0.0.1:${port}${p}`)).status, 404)
  assert.equal((await get(`http://127.0.0.1:${port}/sync-error`)).status, 500)
  assert.equal((await get(`http://127.0.0.1:${port}/async-error`)).status, 500)
  assert.equal((await get(`http://127.0.0.1:${port}/handled`)).status, 400)
  assert.equal(await send(port, 'POST', '/login/tok-5ecret?password=hunter2-password&page=2', { user: 'ann', password: 'hunter2-password', nested: { pin: 'pin-9911' } }, { authorization: 'Bearer sk_live_abc', cookie: 'session=s3cr3t' }), 500)
  assert.equal((await get(`http://127.0.0.1:${port}/slow`)).status, 200)
  // Long enough for the app to have read the request even on a loaded machine: it must count as aborted.
  await abortAfter(port, '/hang', 500)
  await new Promise((r) => setTimeout(r, 100))
  run.child.send('finish')
  const exit = await exitWithin(run, 15_000)
  assert.notEqual(exit, 'hung')
  assert.doesNotMatch(run.stderr, /AGENT_.*(FAILED|error)/, run.stderr)

  const endpoints: Outcome['endpoints'] = {}
  // The request count is the duration histogram's; errors and aborts are the agent's own sums.
  for (const name of ['http.server.request.duration', 'agent.http.server.request.errors', 'agent.http.server.request.aborted'] as const) {
    for (const body of sink.payloads('/v1/metrics')) for (const rm of body.resourceMetrics) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
      if (m.name !== name) continue
      for (const p of m.sum?.dataPoints ?? m.exponentialHistogram.dataPoints) {
        const a = Object.fromEntries(p.attributes.map((kv: any) => [kv.key, kv.value.stringValue]))
        const key = `${a['http.request.method']} ${a['http.route']}`
        const e = (endpoints[key] ??= { count: 0, errors: 0, aborted: 0 })
        if (name === 'http.server.request.duration') e.count += Number(p.count)
        else e[name.endsWith('errors') ? 'errors' : 'aborted'] += Number(p.asInt)
      }
    }
  }
  const errors = sink.logRecords().filter((r) => r.attributes['event.name'] === 'exception').map((r) => ({ type: String(r.attributes['exception.type']), message: String(r.attributes['exception.message']), route: String(r.attributes['http.route']), raw: JSON.stringify(r) }))
  const starts = sink.logRecords().filter((r) => r.attributes['event.name'] === 'agent.process.start')
  const raw = sink.received.map((r) => r.raw.toString()).join('\n')
  await sink.close()
  return { endpoints, errors, raw, framework: starts[0]?.resource['agent.framework.name'], spanNames: sink.spans().map((s) => s.name), stderr: run.stderr }
}

/** What every integration must report for the common requests; `extraRequests` made by `extra`, `extraErrors` of them failed. */
export function assertOutcome(o: Outcome, extraRequests = 0, extraErrors = 0) {
  const e = o.endpoints
  assert.equal(e['GET /users/:id']?.count, 3, JSON.stringify(e))
  assert.equal(e['GET /api/v1/orders/:orderId']?.count, 1, JSON.stringify(e))
  assert.equal(e['GET /api/v1/status']?.count, 1)
  assert.equal(e['GET (unmatched)']?.count, 3, 'every 404 in one endpoint')
  assert.equal(e['GET /sync-error']?.errors, 1)
  assert.equal(e['GET /async-error']?.errors, 1)
  assert.equal(e['GET /hang']?.aborted, 1, 'an aborted request is counted as aborted')
  assert.equal(e['GET /slow']?.count, 1)
  const total = Object.values(e).reduce((n, x) => n + x.count, 0)
  assert.equal(total, 14 + extraRequests, 'each request counted exactly once')
  const byMessage = Object.fromEntries(o.errors.map((x) => [x.message, x]))
  assert.equal(byMessage['sync boom']?.route, '/sync-error')
  assert.equal(byMessage['async boom']?.route, '/async-error')
  assert.equal(byMessage['bad input']?.route, '/handled', 'an error the app handled is captured too')
  assert.equal(byMessage['login failed for ann']?.route, '/login/:token')
  assert.equal(o.errors.length, 4 + extraErrors, 'each error captured once')
  for (const secret of SECRETS) assert.ok(!o.raw.includes(secret), `the export contains the secret ${secret}: ...${o.raw.slice(o.raw.indexOf(secret) - 300, o.raw.indexOf(secret) + 50)}`)
  assert.match(o.raw, /page=2/, 'harmless query parameters are kept')
}

