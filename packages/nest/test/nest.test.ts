import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assertOutcome, exercise } from '@agent/test-helpers/framework-suite.ts'
import { get } from '@agent/test-helpers/load.ts'
import { OtlpSink, attrs } from '@agent/test-helpers/otlp-sink.ts'
import { exitWithin, runFixture } from '@agent/test-helpers/processes.ts'

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

test('nest mounted at a path: its first request gets the same endpoint as the later ones', async () => {
  const sink = await OtlpSink.start()
  const run = runFixture(join(here, 'fixtures', 'mounted.cjs'), { AGENT_NAME: 'nest-mounted', AGENT_KEY: 'k', AGENT_ENDPOINT: sink.url, AGENT_LOG_LEVEL: 'warn' }, { execArgv: [], cwd })
  try {
    const port = (await run.waitFor(/^listening/)).split(' ')[1]
    for (let i = 0; i < 3; i++) assert.equal((await get(`http://127.0.0.1:${port}/api/`)).status, 200)
    run.child.send('finish')
    assert.notEqual(await exitWithin(run, 15_000), 'hung')
    const routes: Record<string, number> = {}
    for (const body of sink.payloads('/v1/metrics')) for (const rm of body.resourceMetrics) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
      if (m.name !== 'http.server.request.count') continue
      for (const p of m.sum.dataPoints) {
        const route = String(attrs(p.attributes)['http.route'])
        routes[route] = (routes[route] ?? 0) + Number(p.asInt)
      }
    }
    assert.deepEqual(routes, { '/api': 3 })
  } finally {
    run.kill()
    await sink.close()
  }
})
