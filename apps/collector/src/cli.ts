// agent-collector [--port 4318] [--host 127.0.0.1] [--db .data/collector.db] [--key KEY]
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createCollectorServer } from './collector-server.js'
import { Store } from './store.js'

const { values } = parseArgs({
  // `pnpm start -- --port 1` passes the `--` through: it is not an argument.
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    port: { type: 'string', default: process.env.COLLECTOR_PORT ?? '4318' },
    host: { type: 'string', default: '127.0.0.1' },
    db: { type: 'string', default: process.env.COLLECTOR_DB ?? '.data/collector.db' },
    key: { type: 'string', default: process.env.COLLECTOR_KEY ?? '' },
  },
})

const store = new Store(resolve(values.db!))
const server = createCollectorServer({ store, ...(values.key ? { key: values.key } : {}) })
server.listen(Number(values.port), values.host, () => {
  const { port } = server.address() as { port: number }
  process.stdout.write(`collector listening on http://${values.host}:${port} (OTLP/HTTP at /v1/*, dashboard at /), storing in ${resolve(values.db!)}\n`)
})
const shutdown = () => server.close(() => {
  store.close()
  process.exit(0)
})
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
