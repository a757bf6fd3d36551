import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
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

for (const [platform, guards] of [['express', 0], ['fastify', 1]] as const) {
  test(`nest on platform-${platform}, AgentModule: ${guards === 0 ? 'no guard on any request (named at its end)' : 'a global guard names each request'}`, async () => {
    const sink = await OtlpSink.start()
    const run = runFixture(join(here, 'fixtures', 'app.cjs'), { PLATFORM: platform, MODE: 'module', GUARDS: '1', AGENT_NAME: 'nest-guards', AGENT_KEY: 'k', AGENT_ENDPOINT: sink.url, AGENT_LOG_LEVEL: 'warn' }, { execArgv: [], cwd })
    try {
      assert.equal(await run.waitFor(/^guards/), `guards ${guards}`)
    } finally {
      run.kill()
      await exitWithin(run, 10_000)
      await sink.close()
    }
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
    const routes = sink.requestsPerEndpoint(true)
    assert.deepEqual(routes, { '/api': 3 })
  } finally {
    run.kill()
    await sink.close()
  }
})

/** Requests per endpoint, and the framework the process reported, from what the sink received. */
async function serve(file: string, env: Record<string, string>, execArgv: string[], paths: string[]) {
  const sink = await OtlpSink.start()
  const run = runFixture(join(here, 'fixtures', file), { AGENT_NAME: 'nest-versioned', AGENT_KEY: 'k', AGENT_ENDPOINT: sink.url, AGENT_LOG_LEVEL: 'warn', ...env }, { execArgv, cwd })
  try {
    const port = (await run.waitFor(/^listening/)).split(' ')[1]
    for (const path of paths) assert.equal((await get(`http://127.0.0.1:${port}${path}`)).status, 200, path)
    run.child.send('finish')
    assert.notEqual(await exitWithin(run, 15_000), 'hung')
    const routes = sink.requestsPerEndpoint()
    const start = sink.logRecords().find((r) => r.attributes['event.name'] === 'agent.process.start')
    // The platform is learnt on the first request: the metrics after it carry it.
    const platforms = new Set(sink.payloads('/v1/metrics').flatMap((b) => b.resourceMetrics.map((rm: any) => attrs(rm.resource.attributes)['agent.framework.platform.name'])).filter(Boolean))
    return { routes, framework: start?.resource['agent.framework.name'], version: start?.resource['agent.framework.version'], platforms: [...platforms] }
  } finally {
    run.kill()
    await sink.close()
  }
}

for (const platform of ['express', 'fastify']) {
  for (const [mode, execArgv] of [['module', []], ['register', ['--require', '@agent/nest/register']], ['register', ['--import', '@agent/nest/register']]] as const) {
    test(`nest on platform-${platform}, ${execArgv.join(' ') || 'AgentModule'}: global prefix and URI versioning, the first request named like the later ones, framework @nestjs/core and its platform`, async () => {
      const o = await serve('versioned.cjs', { PLATFORM: platform, MODE: mode }, [...execArgv], ['/api/v1/cats/7', '/api/v1/cats/8', '/api/v1/cats/abc', '/api/v1/cats'])
      assert.deepEqual(o.routes, { 'GET /api/v1/cats/:id': 3, 'GET /api/v1/cats': 1 })
      assert.equal(o.framework, '@nestjs/core')
      assert.equal(o.version, JSON.parse(readFileSync(join(cwd, 'node_modules/@nestjs/core/package.json'), 'utf8')).version)
      assert.deepEqual(o.platforms, [`@nestjs/platform-${platform}`], 'and the platform it runs on')
    })
  }
}

test('@agent/nest brings in no framework of its own: Express and Fastify are not among its dependencies', () => {
  const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }> }
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}), ['@agent/core'])
  for (const name of Object.keys(pkg.peerDependencies ?? {})) {
    if (!name.startsWith('@nestjs/')) assert.equal(pkg.peerDependenciesMeta?.[name]?.optional, true, `${name} is an optional peer`)
  }
})
