// The per-request path alone (record + aggregate), in ns/op and bytes/op:
// regressions show here without a full load run.
//   node --expose-gc --max-semi-space-size=256 micro.mjs
import { Aggregator, RequestRecord, startNow } from '@agent/core/internal'
import { performance } from 'node:perf_hooks'
import v8 from 'node:v8'

const routes = ['/users/:id', '/orders/:id', '/products/:id/reviews', '/health']
function run(n) {
  const agg = new Aggregator(500)
  for (let i = 0; i < n; i++) {
    const record = new RequestRecord('/users/1', startNow('GET'))
    record.route = routes[i & 3]
    agg.record(record.method, record.route, performance.now() - record.start + (i % 50), false, false)
  }
  return agg
}

run(200_000) // warm up: let the JIT settle
const n = 1_000_000
globalThis.gc?.()
const heapBefore = v8.getHeapStatistics().used_heap_size
const t0 = performance.now()
run(n)
const ms = performance.now() - t0
const heapAfter = v8.getHeapStatistics().used_heap_size
const result = { nsPerOp: Number(((ms * 1e6) / n).toFixed(1)), bytesPerOp: Number((Math.max(heapAfter - heapBefore, 0) / n).toFixed(1)), ops: n }
process.stdout.write(JSON.stringify(result) + '\n')
