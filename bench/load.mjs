// Runs in its own process so the load does not share a core's event loop with the runner.
import autocannon from 'autocannon'
const [url, connections, duration] = process.argv.slice(2)
const result = await autocannon({ url, connections: Number(connections), duration: Number(duration) })
process.stdout.write(JSON.stringify({ requests: result.requests.total, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx }))
