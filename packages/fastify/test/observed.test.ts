// The agent is invisible to the app's own view of itself: for Fastify 4 and 5,
// what an app sees through printPlugins(), printRoutes({ includeHooks, includeMeta }),
// its onRoute hooks (routeOptions, exposeHeadRoute's copies) and inject() is the
// same with the agent loaded, by each of its three ways in, as without it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))
const cwd = join(here, '..')
const fixture = join(here, 'fixtures', 'observed.cjs')
// An active agent (name and key set) whose collector is nowhere: nothing is sent, nothing is printed.
const agentEnv = { AGENT_NAME: 'observed', AGENT_KEY: 'k', AGENT_ENDPOINT: 'http://127.0.0.1:9', AGENT_LOG_LEVEL: 'silent', AGENT_SHUTDOWN_TIMEOUT_MS: '100' }

function observe(env: Record<string, string>, execArgv: string[] = []): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...execArgv, fixture], { cwd, env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`))
      resolve(JSON.parse(stdout) as Record<string, unknown>)
    })
  })
}

for (const fastify of ['fastify', 'fastify4']) {
  test(`${fastify}: printPlugins, printRoutes with hooks and meta, onRoute's routeOptions and inject are the same with the agent`, async () => {
    const [without, standin, plugin, instrument, register] = await Promise.all([
      observe({ FASTIFY: fastify, MODE: 'none' }),
      observe({ FASTIFY: fastify, MODE: 'standin' }),
      observe({ FASTIFY: fastify, MODE: 'plugin', ...agentEnv }),
      observe({ FASTIFY: fastify, MODE: 'instrument', ...agentEnv }),
      observe({ FASTIFY: fastify, MODE: 'none', ...agentEnv }, ['--require', '@agent/fastify/register']),
    ])
    // The suite test's own assertion: each route's onRequest holds the app's one hook only.
    assert.ok((without.onRequestLengths as number[]).every((n) => n === 1))
    assert.match(String(without.routesWithHooks), /appOnRequest/, 'the listing shows hooks at all')
    assert.deepEqual(instrument, without, 'instrument(app)')
    assert.deepEqual(register, without, '--require @agent/fastify/register')
    // The plugin's node is the one the app registered itself: compared with a no-op plugin of the same name.
    assert.deepEqual(plugin, standin, 'app.register(agentPlugin)')
  })
}
