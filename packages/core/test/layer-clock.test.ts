import { test } from 'node:test'
import assert from 'node:assert/strict'
import { LayerClock, layerIndex } from '../src/layer-clock.ts'

const { http, postgresql, redis } = layerIndex

test('overlapping calls in one layer count their union once', () => {
  const clock = new LayerClock()
  clock.begin(postgresql, 0)
  clock.begin(postgresql, 5)
  clock.end(postgresql, 10)
  clock.end(postgresql, 20)
  assert.equal(clock.timeMs[postgresql], 20)
  assert.equal(clock.calls[postgresql], 2)
})

test('calls of two layers at once share the time they overlap: the layers never add up to more than the wall time', () => {
  const clock = new LayerClock()
  clock.begin(http, 0)
  clock.begin(redis, 10)
  clock.end(http, 30)
  clock.end(redis, 40)
  clock.advance(50)
  assert.equal(clock.timeMs[http], 10 + 10)
  assert.equal(clock.timeMs[redis], 10 + 10)
  assert.equal(clock.timeMs[http]! + clock.timeMs[redis]!, 40, 'the busy time, once')
})

test('a call still in flight counts up to where the clock is read; an end without a start is ignored', () => {
  const clock = new LayerClock()
  clock.end(http, 5)
  clock.begin(http, 10)
  clock.advance(25)
  assert.equal(clock.timeMs[http], 15)
  assert.equal(clock.calls[http], 1)
})
