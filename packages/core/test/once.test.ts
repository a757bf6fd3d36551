import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Once } from '../src/once.ts'
import { Agent } from '../src/agent.ts'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'

test('Once: one run until reset, settled told apart from under way', async () => {
  const once = new Once<number>()
  let runs = 0
  let release!: () => void
  const work = () => new Promise<number>((resolve) => { runs++; release = () => resolve(runs) })
  const a = once.call(work)
  const b = once.call(work)
  assert.equal(a, b)
  assert.equal(once.called, true)
  assert.equal(once.settled, false)
  release()
  assert.equal(await a, 1)
  assert.equal(once.settled, true)
  assert.equal(await once.call(work), 1, 'no second run before a reset')
  once.reset()
  assert.equal(once.called, false)
  const c = once.call(work)
  release()
  assert.equal(await c, 2)
})

test('shutdown() called twice delivers once, and start() makes it deliver again', async () => {
  const sink = await OtlpSink.start()
  try {
    const agent = new Agent({ name: 'once', key: 'k', endpoint: sink.url, logLevel: 'silent', forceStart: true, flushIntervalMs: 60_000 })
    agent.start()
    const first = agent.shutdown()
    assert.equal(agent.shutdown(), first, 'the second call gets the first call\'s promise')
    assert.equal(await first, true)
    const delivered = sink.payloads('/v1/metrics').length
    assert.ok(delivered >= 1)
    assert.equal(await agent.shutdown(), true)
    assert.equal(sink.payloads('/v1/metrics').length, delivered, 'nothing sent twice')
    agent.start()
    assert.equal(await agent.shutdown(), true)
    assert.equal(sink.payloads('/v1/metrics').length, delivered + 1, 'after a start, a shutdown delivers again')
  } finally {
    await sink.close()
  }
})
