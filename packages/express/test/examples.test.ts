// Apps shaped like Express's examples/, Express 4 and 5, development and
// production: every routed request is named by its template (mount patterns
// included, never a value from the URL), each request is counted once, and
// every response (status, headers but Date, body; error pages with their
// stacks) is byte-identical with the agent, by each way in, and without it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { OtlpSink, attrs } from '@agent/test-helpers/otlp-sink.ts'
import { exitWithin, runFixture } from '@agent/test-helpers/processes.ts'

const here = fileURLToPath(new URL('.', import.meta.url))
const cwd = join(here, '..')
const fixture = join(here, 'fixtures', 'examples.cjs')

/** [host, method, path, the route template, or null where no route answers]; `{opt}` is the optional-parameter syntax. */
type Row = [string, string, string, string | null]
const ROWS: Row[] = [
  ['main', 'GET', '/', '/'],
  ['route-map', 'GET', '/users', '/users'],
  ['route-map', 'DELETE', '/users', '/users'],
  ['route-map', 'GET', '/users/1', '/users/:uid'],
  ['route-map', 'GET', '/users/2/pets', '/users/:uid/pets'],
  ['route-map', 'DELETE', '/users/2/pets/3', '/users/:uid/pets/:pid'],
  ['route-map', 'OPTIONS', '/users', null],
  ['route-separation', 'GET', '/', '/'],
  ['route-separation', 'GET', '/users', '/users'],
  ['route-separation', 'GET', '/user/0', '/user/:id'],
  ['route-separation', 'GET', '/user/1/view', '/user/:id/view'],
  ['route-separation', 'GET', '/user/0/edit', '/user/:id/edit'],
  ['route-separation', 'PUT', '/user/1/edit', '/user/:id/edit'],
  ['route-separation', 'GET', '/user/9', '/user/:id{opt}'],
  ['route-separation', 'GET', '/posts', '/posts'],
  ['mvc', 'GET', '/', '/'],
  ['mvc', 'GET', '/users', '/users'],
  ['mvc', 'GET', '/user/0', '/user/:user_id'],
  ['mvc', 'GET', '/user/0/edit', '/user/:user_id/edit'],
  ['mvc', 'PUT', '/user/0', '/user/:user_id'],
  ['mvc', 'GET', '/pet/1', '/pet/:pet_id'],
  ['mvc', 'GET', '/nothing/here', null],
  ['params', 'GET', '/', '/'],
  ['params', 'GET', '/user/0', '/user/:user'],
  ['params', 'GET', '/user/3', '/user/:user'],
  ['params', 'GET', '/user/99', '/user/:user'],
  ['params', 'GET', '/users/0-2', '/users/:from-:to'],
  ['params', 'GET', '/users/x-y', '/users/:from-:to'],
  ['params', 'GET', '/nope', null],
  ['multi-router', 'GET', '/', '/'],
  ['multi-router', 'GET', '/api/v1', '/api/v1'],
  ['multi-router', 'GET', '/api/v1/users', '/api/v1/users'],
  ['multi-router', 'GET', '/api/v2/users', '/api/v2/users'],
  ['multi-router', 'GET', '/users/alice/posts', '/users/:name/posts'],
  ['multi-router', 'GET', '/users/bob/posts', '/users/:name/posts'],
  ['multi-router', 'GET', '/users/42/posts/7', '/users/:name/posts/:postId'],
  ['multi-router', 'GET', '/users/bob/posts/7/comments', '/users/:name/posts/:postId/comments'],
  ['multi-router', 'GET', '/user/id:10/edit', '/^\\/user\\/id:(\\d+)//edit'],
  ['multi-router', 'GET', '/user/id:11/edit', '/^\\/user\\/id:(\\d+)//edit'],
  ['multi-router', 'GET', '/mirror-b/ping', '/mirror-a|/mirror-b/ping'],
  ['error-pages', 'GET', '/', '/'],
  ['error-pages', 'GET', '/404', '/404'],
  ['error-pages', 'GET', '/403', '/403'],
  ['error-pages', 'GET', '/500', '/500'],
  ['error-pages', 'GET', '/throw', '/throw'],
  ['error-pages', 'GET', '/not-a-page', null],
  ['web-service', 'GET', '/api/users?api-key=foo', '/api/users'],
  ['web-service', 'GET', '/api/repos?api-key=bar', '/api/repos'],
  ['web-service', 'GET', '/api/user/tobi/repos?api-key=foo', '/api/user/:name/repos'],
  ['web-service', 'GET', '/api/user/loki/repos?api-key=baz', '/api/user/:name/repos'],
  ['web-service', 'GET', '/api/users', null],
  ['web-service', 'GET', '/api/users?api-key=wrong', null],
  ['web-service', 'GET', '/api/nothing?api-key=foo', null],
  ['static', 'GET', '/hello.txt', null],
  ['static', 'HEAD', '/hello.txt', null],
  ['static', 'GET', '/', null],
  ['static', 'GET', '/static/css/style.css', null],
  ['static', 'GET', '/css/style.css', null],
  ['static', 'GET', '/static/css', null],
  ['static', 'GET', '/static/missing.txt', null],
]

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

function request(port: string, host: string, method: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { host: `${host}.example`, accept: 'text/html' }, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d))
      res.on('end', () => {
        const { date: _date, ...headers } = res.headers
        resolve({ status: res.statusCode ?? 0, headers, body })
      })
    })
    req.on('error', reject)
    req.end(method === 'PUT' ? '' : undefined)
  })
}

async function serve(env: Record<string, string>, execArgv: string[] = []) {
  const sink = await OtlpSink.start()
  const run = runFixture(fixture, { AGENT_NAME: 'examples', AGENT_KEY: 'k', AGENT_ENDPOINT: sink.url, AGENT_LOG_LEVEL: 'warn', ...env }, { execArgv, cwd })
  try {
    const port = (await run.waitFor(/^listening/)).split(' ')[1]!
    const replies: Reply[] = []
    for (const [host, method, path] of ROWS) replies.push(await request(port, host, method, path))
    run.child.send('finish')
    assert.notEqual(await exitWithin(run, 15_000), 'hung')
    const endpoints: Record<string, number> = {}
    for (const body of sink.payloads('/v1/metrics')) for (const rm of body.resourceMetrics) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
      if (m.name !== 'http.server.request.duration') continue
      for (const p of m.exponentialHistogram.dataPoints) {
        const a = attrs(p.attributes)
        const key = `${a['http.request.method']} ${a['http.route']}`
        endpoints[key] = (endpoints[key] ?? 0) + Number(p.count)
      }
    }
    const errorRoutes = sink.logRecords().filter((r) => r.attributes['event.name'] === 'exception').map((r) => String(r.attributes['http.route']))
    return { replies, endpoints, errorRoutes, stderr: run.stderr }
  } finally {
    run.kill()
    await sink.close()
  }
}

for (const express of ['express', 'express4']) {
  const opt = express === 'express' ? '{/:op}' : '/:op?'
  for (const nodeEnv of ['', 'production']) {
    const envName = nodeEnv || 'development'
    test(`${express}, ${envName}: examples named by their templates, responses identical with the agent`, async () => {
      const common = { EXPRESS: express, NODE_ENV: nodeEnv }
      const [without, middleware, instrument, register] = await Promise.all([
        serve({ ...common, MODE: 'none', AGENT_MONITOR: 'false' }),
        serve({ ...common, MODE: 'middleware' }),
        serve({ ...common, MODE: 'instrument' }),
        serve({ ...common, MODE: 'none' }, ['--require', '@agent/express/register']),
      ])
      // Development error pages print stacks: the ones that must not change.
      if (!nodeEnv) assert.ok(without.replies.some((r) => r.status === 500 && /at .*examples\.cjs/.test(r.body)), 'an error page with a stack')
      const expected: Record<string, number> = {}
      for (const [, method, , route] of ROWS) if (route !== null) expected[`${method} ${route.replace('{opt}', opt)}`] = (expected[`${method} ${route.replace('{opt}', opt)}`] ?? 0) + 1
      for (const [mode, run] of Object.entries({ middleware, instrument, register })) {
        ROWS.forEach(([host, method, path], i) => assert.deepEqual(run.replies[i], without.replies[i], `${mode}: ${method} ${host}${path}`))
        const named = Object.fromEntries(Object.keys(expected).map((k) => [k, run.endpoints[k] ?? 0]))
        assert.deepEqual(named, expected, `${mode}: routed requests by template; all endpoints: ${JSON.stringify(run.endpoints)}`)
        const total = Object.values(run.endpoints).reduce((a, b) => a + b, 0)
        assert.equal(total, ROWS.length, `${mode}: each request counted once`)
        assert.doesNotMatch(run.stderr, /AGENT_\w+_FAILED/)
        // Errors thrown in a handler and passed to next(), on their way to the app's error middleware.
        for (const route of ['/throw', '/500']) assert.ok(run.errorRoutes.includes(route), `${mode}: the error of ${route} captured: ${run.errorRoutes}`)
      }
    })
  }
}
