// The command line, checked: a bad value is refused with what was expected.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULTS } from './collector-server.js'
import type { ListenOptions } from './start-collector.js'
import { parseDuration } from './time-range.js'

export const USAGE = `agent-collector [options]
  --host ADDRESS            listen address (default 127.0.0.1; beyond loopback --key and --dashboard-password are required)
  --port PORT               (default 4318, or COLLECTOR_PORT)
  --db FILE                 SQLite file (default .data/collector.db, or COLLECTOR_DB)
  --key KEY                 a key agents must send in x-agent-key; repeat to accept several (or COLLECTOR_KEYS=k1,k2)
  --dashboard-user USER     basic-auth user for the dashboard and /api/* (default admin)
  --dashboard-password PW   basic-auth password (or COLLECTOR_DASHBOARD_PASSWORD, which ps does not show)
  --tls-cert FILE --tls-key FILE   serve https with this PEM certificate and key
  --raw-window DURATION     raw points kept this long, then per-minute rollups (default 24h)
  --retention DURATION      everything older is deleted (default 7d)
  --slow-ms MS              OpenTelemetry server spans at least this long are slow traces (default 500)
  --max-pending N           reports in progress before 429 + Retry-After (default 8)
  --max-body-bytes N        largest report, as sent and once decompressed (default 8388608)`

export class UsageError extends Error {}
/** --help: the usage goes to stdout and the exit is 0. */
export class HelpRequested extends UsageError {}

function positive(name: string, text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} ${JSON.stringify(text)}: expected a positive integer`)
  return n
}

function duration(name: string, text: string): number {
  const ms = parseDuration(text)
  if (ms === undefined || ms <= 0) throw new UsageError(`${name} ${JSON.stringify(text)}: expected a duration such as 90m, 24h or 7d`)
  return ms
}

function readPem(name: string, file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new UsageError(`${name} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
}

export function parseCli(argv: string[], env: NodeJS.ProcessEnv): ListenOptions {
  let values
  try {
    ;({ values } = parseArgs({
      // `pnpm start -- --port 1` passes the `--` through: it is not an argument.
      args: argv.filter((a) => a !== '--'),
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: env.COLLECTOR_PORT ?? '4318' },
        db: { type: 'string', default: env.COLLECTOR_DB ?? '.data/collector.db' },
        key: { type: 'string', multiple: true, default: [] },
        'dashboard-user': { type: 'string', default: 'admin' },
        'dashboard-password': { type: 'string', default: env.COLLECTOR_DASHBOARD_PASSWORD ?? '' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'raw-window': { type: 'string', default: '24h' },
        retention: { type: 'string', default: '7d' },
        'slow-ms': { type: 'string', default: String(DEFAULTS.slowMs) },
        'max-pending': { type: 'string', default: String(DEFAULTS.maxPendingReports) },
        'max-body-bytes': { type: 'string', default: String(DEFAULTS.maxBodyBytes) },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${USAGE}`)
  }
  if (values.help) throw new HelpRequested(USAGE)
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${JSON.stringify(values.port)}: expected a port number, 0 to 65535`)
  const keys = [...values.key!, ...(env.COLLECTOR_KEYS ?? env.COLLECTOR_KEY ?? '').split(',')].map((k) => k.trim()).filter(Boolean)
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) throw new UsageError('--tls-cert and --tls-key go together: pass both PEM files, or neither for plain http')
  const rawMs = duration('--raw-window', values['raw-window']!)
  const keepMs = duration('--retention', values.retention!)
  if (rawMs > keepMs) throw new UsageError(`--raw-window ${values['raw-window']} is longer than --retention ${values.retention}: raw points cannot outlive everything else`)
  const maxBody = positive('--max-body-bytes', values['max-body-bytes']!)
  return {
    host: values.host!,
    port,
    dbPath: resolve(values.db!),
    keys,
    ...(values['dashboard-password'] ? { dashboard: { user: values['dashboard-user']!, password: values['dashboard-password'] } } : {}),
    ...(values['tls-cert'] ? { tls: { cert: readPem('--tls-cert', values['tls-cert']), key: readPem('--tls-key', values['tls-key']!) } } : {}),
    retention: { rawMs, keepMs },
    slowMs: positive('--slow-ms', values['slow-ms']!),
    maxPendingReports: positive('--max-pending', values['max-pending']!),
    maxBodyBytes: maxBody,
    maxDecompressedBytes: maxBody,
  }
}
