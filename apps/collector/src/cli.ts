#!/usr/bin/env node
// agent-collector: see USAGE in cli-options.ts.
import { HelpRequested, parseCli } from './cli-options.js'
import { startCollector } from './start-collector.js'

async function main(): Promise<void> {
  const options = parseCli(process.argv.slice(2), process.env)
  const running = await startCollector(options)
  for (const w of running.warnings) process.stderr.write(`collector: warning: ${w}\n`)
  const guarded = [options.keys?.length ? `reports need one of ${options.keys.length} key(s)` : '', options.dashboard ? 'dashboard behind basic auth' : ''].filter(Boolean).join(', ')
  process.stdout.write(`collector listening on ${running.url} (OTLP/HTTP at /v1/*, dashboard at /), storing in ${options.dbPath}${guarded ? `; ${guarded}` : ''}\n`)
  let closing = false
  const shutdown = () => {
    if (closing) return
    closing = true
    running.close().then(() => process.exit(0), () => process.exit(1))
  }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)
}

main().catch((err: Error) => {
  if (err instanceof HelpRequested) {
    process.stdout.write(`${err.message}\n`)
    process.exit(0)
  }
  process.stderr.write(`collector: ${err.message}\n`)
  process.exit(1)
})
