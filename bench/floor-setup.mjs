// The least a per-request latency measurement from Node's HTTP diagnostics channels can cost: the
// start time kept per connection (a WeakMap slot, as @agent keeps it), the clock read at the start
// and at the finish, and the duration counted in one log2 histogram. No route name, no record, no
// endpoint look-up, no pipelining, no error handling: a lower bound for any agent that measures
// each request from these channels (`--modes floor` in instructions.mjs), not an agent.
import dc from 'node:diagnostics_channel'
import { performance } from 'node:perf_hooks'

const starts = new WeakMap()
const counts = new Float64Array(64)

dc.subscribe('http.server.request.start', function onRequestStart(message) {
  const socket = message.request.socket
  let slot = starts.get(socket)
  if (slot === undefined) starts.set(socket, (slot = { startMs: 0 }))
  slot.startMs = performance.now()
})

dc.subscribe('http.server.response.finish', function onResponseFinish(message) {
  const slot = starts.get(message.socket)
  if (slot === undefined) return
  const ms = performance.now() - slot.startMs
  counts[ms > 0 ? Math.max(0, Math.min(63, 32 + Math.floor(Math.log2(ms)))) : 0]++
})
