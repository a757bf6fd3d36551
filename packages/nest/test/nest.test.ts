import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assertOutcome, exercise } from '@agent/test-helpers/framework-suite.ts'
import { get } from '@agent/test-helpers/load.ts'

const here = fileURLToPath(new URL('.', import.meta.url))
const cwd = join(here, '..')
const extra = async (port: string) => {
  assert.equal((await get(`http://127.0.0.1:${port}/plain`)).status, 200)
}
const run = (env: Record<string, string>, execArgv: string[] = []) => exercise({ file: join(here, 'fixtures', 'app.cjs'), cwd, env, execArgv, extra })

for (const platform of ['express', 'fastify']) {
  test(`nest on platform-${platform}, AgentModule: templates, Controller.method names, errors through exception filters`, async () => {
    const o = await run({ PLATFORM: platform, MODE: 'module' })
    assertOutcome(o, 1)
    assert.equal(o.framework, '@nestjs/core')
    assert.ok(o.spanNames.includes('MiscController.slow'), `slow trace named after its handler: ${o.spanNames}`)
  })
  test(`nest on platform-${platform}: --require register and AgentModule at once count each request once`, async () => {
    const o = await run({ PLATFORM: platform, MODE: 'both' }, ['--require', '@agent/nest/register'])
    assertOutcome(o, 1)
  })
}
