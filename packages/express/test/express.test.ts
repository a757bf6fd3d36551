import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assertOutcome, exercise, send } from '@agent/test-helpers/framework-suite.ts'
import { get } from '@agent/test-helpers/load.ts'

const here = fileURLToPath(new URL('.', import.meta.url))
const fixture = (f: string) => join(here, 'fixtures', f)
const cwd = join(here, '..')

/** Express's own route shapes: app.route, arrays, regexps. */
async function expressRoutes(port: string) {
  assert.equal(await send(port, 'GET', '/books'), 200)
  assert.equal(await send(port, 'POST', '/books'), 201)
  assert.equal((await get(`http://127.0.0.1:${port}/a`)).status, 200)
  assert.equal((await get(`http://127.0.0.1:${port}/re/123`)).status, 200)
}

function assertExpress(o: Parameters<typeof assertOutcome>[0]) {
  assertOutcome(o, 4)
  const e = o.endpoints
  assert.equal(e['GET /books']?.count, 1)
  assert.equal(e['POST /books']?.count, 1)
  assert.equal(e['GET /a|/b']?.count, 1)
  assert.equal(e['GET /^\\/re\\/\\d+$/']?.count, 1, JSON.stringify(Object.keys(e)))
}

const run = (file: string, env: Record<string, string>, execArgv: string[] = []) => exercise({ file: fixture(file), cwd, env, execArgv, extra: expressRoutes })

for (const expressPkg of ['express', 'express4']) {
  for (const [file, mode] of [['app.mjs', 'explicit'], ['app.cjs', 'explicit'], ['app.mjs', 'instrument']] as const) {
    test(`${expressPkg}, ${file}, ${mode}: route templates, 404s, errors, aborts, secrets`, async () => {
      assertExpress(await run(file, { EXPRESS: expressPkg, MODE: mode }))
    })
  }
  test(`${expressPkg}: --import register (ESM) gives the same data`, async () => {
    const o = await run('app.mjs', { EXPRESS: expressPkg, MODE: 'register', AGENT_LOG_LEVEL: 'info' }, ['--import', '@agent/express/register'])
    assertExpress(o)
    assert.equal(o.framework, 'express')
    // The preload runs before any server exists: the agent stands by, then the first request starts it.
    assert.match(o.stderr, /standing by: no HTTP server detected yet[\s\S]*started for service "framework-test"/)
  })
  test(`${expressPkg}: --require register (CJS) and the middleware at once count each request once`, async () => {
    assertExpress(await run('app.cjs', { EXPRESS: expressPkg, MODE: 'both' }, ['--require', '@agent/express/register']))
  })
}
