import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runFixture, exitWithin } from './helpers/fixtures.ts'
import { load } from '@agent/test-helpers/load.ts'

const env = { AGENT_NAME: 'exit-test', AGENT_KEY: 'k', AGENT_ENDPOINT: 'http://127.0.0.1:9', AGENT_LOG_LEVEL: 'silent' }

async function served(extraEnv: Record<string, string>) {
  const run = runFixture('http-app.ts', { ...env, ...extraEnv })
  const port = (await run.waitFor(/^listening/)).split(' ')[1]
  assert.equal(await load((i) => `http://127.0.0.1:${port}/x/${i}`, 20, 2), 20)
  return run
}

test('a script with the agent started exits on its own, like one without', async (t) => {
  const delays: Record<string, number> = {}
  for (const agentStart of ['0', '1']) {
    const run = await served({ AGENT_START: agentStart })
    run.child.send('finish')
    const done = Number((await run.waitFor(/^app done/)).split(' ')[2])
    const exit = await exitWithin(run, 10_000)
    assert.notEqual(exit, 'hung', `with AGENT_START=${agentStart} the process did not exit on its own`)
    if (exit === 'hung') return
    assert.equal(exit.code, 0)
    delays[agentStart] = exit.at - done
  }
  // A collector that refuses is the agent's worst case here; the bound is the shutdown budget.
  t.diagnostic(`exit delay without agent ${delays['0']} ms, with ${delays['1']} ms`)
  assert.ok(delays['1']! < 500 + 1000, `exit took ${delays['1']} ms after the app was done`)
})

test('SIGTERM with no handler of the app ends the process by SIGTERM', async () => {
  const run = await served({})
  run.kill('SIGTERM')
  const exit = await exitWithin(run, 10_000)
  assert.notEqual(exit, 'hung')
  if (exit !== 'hung') {
    assert.equal(exit.signal, 'SIGTERM')
    assert.equal(exit.code, null)
  }
})

test('SIGINT with no handler of the app ends the process by SIGINT', async () => {
  const run = await served({})
  run.kill('SIGINT')
  const exit = await exitWithin(run, 10_000)
  assert.notEqual(exit, 'hung')
  if (exit !== 'hung') assert.equal(exit.signal, 'SIGINT')
})

test("SIGTERM with the app's own handler: the handler runs and its exit code stands", async () => {
  const run = await served({ APP_SIGTERM: 'close', APP_EXIT_CODE: '7' })
  run.kill('SIGTERM')
  const exit = await exitWithin(run, 10_000)
  assert.notEqual(exit, 'hung')
  if (exit !== 'hung') {
    assert.equal(exit.code, 7)
    assert.equal(exit.signal, null)
  }
  assert.match(run.stdout, /app handler ran/)
})
