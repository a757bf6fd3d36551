// The export bar, with real processes: exit never waits on a bad collector
// beyond the shutdown budget, and a graceful exit delivers every request.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'
import { freePort as closedPort } from '@agent/test-helpers/ports.ts'
import { runFixture, exitWithin, type Run } from './helpers/fixtures.ts'
import { load } from '@agent/test-helpers/load.ts'


async function serve(endpoint: string, requests: number, env: Record<string, string> = {}): Promise<Run> {
  const run = runFixture('http-app.ts', { AGENT_NAME: 'export-e2e', AGENT_KEY: 'k', AGENT_ENDPOINT: endpoint, AGENT_LOG_LEVEL: 'warn', ...env })
  const port = (await run.waitFor(/^listening/)).split(' ')[1]
  assert.equal(await load((i) => `http://127.0.0.1:${port}/items/${i}`, requests), requests)
  return run
}

/** Ends the app the given way; returns ms from "the app is done" to exit. */
async function endAndTime(run: Run, how: 'natural' | 'sigterm'): Promise<{ ms: number; exit: Awaited<Run['exited']> }> {
  let doneAt: number
  if (how === 'natural') {
    run.child.send('finish')
    doneAt = Number((await run.waitFor(/^app done/)).split(' ')[2])
  } else {
    doneAt = Date.now()
    run.kill('SIGTERM')
  }
  const exit = await exitWithin(run, 15_000)
  assert.notEqual(exit, 'hung', 'the process hung')
  if (exit === 'hung') throw new Error('hung')
  return { ms: exit.at - doneAt, exit }
}

for (const collector of ['blackholed', 'refused'] as const) {
  for (const how of ['natural', 'sigterm'] as const) {
    test(`collector ${collector}, ${how} exit: within shutdownTimeoutMs + 0.5 s, and within 1 s with the defaults`, async (t) => {
      const sink = collector === 'blackholed' ? await OtlpSink.start({ mode: 'blackhole' }) : undefined
      const endpoint = sink?.url ?? `http://127.0.0.1:${await closedPort()}`
      const [custom, defaults] = await Promise.all([
        serve(endpoint, 50, { AGENT_SHUTDOWN_TIMEOUT_MS: '1500' }).then((run) => endAndTime(run, how)),
        serve(endpoint, 50).then((run) => endAndTime(run, how)),
      ])
      t.diagnostic(`exit after the app was done: ${custom.ms} ms (budget 1500 ms), ${defaults.ms} ms (defaults)`)
      assert.ok(custom.ms <= 1500 + 500, `took ${custom.ms} ms`)
      assert.ok(defaults.ms <= 1000, `took ${defaults.ms} ms`)
      if (how === 'sigterm') assert.equal(defaults.exit.signal, 'SIGTERM')
      else assert.equal(defaults.exit.code, 0)
      await sink?.close()
    })
  }
}

const endings = {
  natural: {},
  'sigterm-no-handler': {},
  'sigterm-app-handler': { APP_SIGTERM: 'close' },
  'sigterm-app-handler-process-exit': { APP_SIGTERM: 'exit' },
  'process-exit': { APP_EXIT: 'now' },
} as const

for (const [how, env] of Object.entries(endings)) {
  test(`a working collector gets all 500 of 500 requests on a graceful exit (${how})`, async () => {
    const sink = await OtlpSink.start()
    const run = await serve(sink.url, 500, env)
    const { exit } = await endAndTime(run, how === 'natural' || how === 'process-exit' ? 'natural' : 'sigterm')
    assert.equal(sink.requests(), 500)
    if (how === 'sigterm-no-handler') assert.equal(exit.signal, 'SIGTERM')
    else assert.equal(exit.code, 0)
    await sink.close()
  })
}
