import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assertOutcome, exercise } from '@agent/test-helpers/framework-suite.ts'
import { get } from '@agent/test-helpers/load.ts'

const here = fileURLToPath(new URL('.', import.meta.url))
const fixture = (f: string) => join(here, 'fixtures', f)
const cwd = join(here, '..')

const extra = async (port: string) => {
  assert.equal((await get(`http://127.0.0.1:${port}/plain`)).status, 200)
  assert.equal((await get(`http://127.0.0.1:${port}/guarded/ann`)).status, 401)
  assert.equal((await get(`http://127.0.0.1:${port}/hooked/ann`)).status, 500)
  assert.equal((await get(`http://127.0.0.1:${port}/pair/ann-tok-5ecret`)).status, 500)
}
/** The common outcome, a request its route's hook answered named by the route too, and an error its hook threw captured with its route. */
function assertFastify(o: Parameters<typeof assertOutcome>[0]) {
  assertOutcome(o, 4, 2)
  assert.equal(o.endpoints['GET /plain']?.count, 1)
  assert.equal(o.endpoints['GET /guarded/:who']?.count, 1, JSON.stringify(o.endpoints))
  assert.equal(o.endpoints['GET /hooked/:who']?.errors, 1, JSON.stringify(o.endpoints))
  assert.equal(o.errors.find((e) => e.message === 'hook boom')?.route, '/hooked/:who', JSON.stringify(o.errors))
  // Its token is redacted from the URL (assertOutcome looks for every secret in the export).
  assert.equal(o.errors.find((e) => e.message === 'pair failed')?.route, '/pair/:user-:token', JSON.stringify(o.errors))
}
const run = (file: string, env: Record<string, string>, execArgv: string[] = []) => exercise({ file: fixture(file), cwd, env, execArgv, extra })

for (const fastifyPkg of ['fastify', 'fastify4']) {
  for (const file of ['app.mjs', 'app.cjs']) {
    test(`${fastifyPkg}, ${file}, plugin: route templates with prefixes, 404s, errors, aborts, secrets`, async () => {
      assertFastify(await run(file, { FASTIFY: fastifyPkg, MODE: 'explicit' }))
    })
  }
  test(`${fastifyPkg}: --import register gives the same data, standing by until the first request`, async () => {
    const o = await run('app.mjs', { FASTIFY: fastifyPkg, MODE: 'register', AGENT_LOG_LEVEL: 'info' }, ['--import', '@agent/fastify/register'])
    assertFastify(o)
    assert.equal(o.framework, 'fastify')
  })
  test(`${fastifyPkg}: --require register and the plugin at once count each request once`, async () => {
    assertFastify(await run('app.cjs', { FASTIFY: fastifyPkg, MODE: 'both' }, ['--require', '@agent/fastify/register']))
  })
}
