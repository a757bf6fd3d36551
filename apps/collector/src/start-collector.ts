import type { AddressInfo } from 'node:net'
import { Collector, type CollectorOptions } from './collector-server.js'
import { checkExposure, isLoopback } from './exposure.js'

export interface ListenOptions extends CollectorOptions {
  host: string
  /** 0 picks a free port. */
  port: number
}

export interface RunningCollector { collector: Collector; url: string; warnings: string[]; close: () => Promise<void> }

/** Checks what listening on `host` exposes, then starts the collector there. */
export async function startCollector(options: ListenOptions): Promise<RunningCollector> {
  checkExposure(options.host, { keys: options.keys?.length ?? 0, dashboard: options.dashboard !== undefined })
  const warnings: string[] = []
  if (!isLoopback(options.host) && !options.tls) {
    warnings.push(`serving plain http on ${options.host}: keys and the dashboard password cross the network readable by anyone on the path; pass --tls-cert and --tls-key, or put a TLS proxy in front`)
  }
  const collector = new Collector(options)
  try {
    await new Promise<void>((resolve, reject) => {
      collector.server.once('error', reject)
      collector.server.listen(options.port, options.host, () => {
        collector.server.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    await collector.close().catch(() => {})
    const e = err as NodeJS.ErrnoException
    if (e.code === 'EADDRINUSE') throw new Error(`port ${options.port} on ${options.host} is in use: stop what listens there or pass another --port`)
    if (e.code === 'EADDRNOTAVAIL') throw new Error(`${options.host} is not an address of this machine: pass one of its addresses to --host (or 0.0.0.0 for all)`)
    throw err
  }
  const { port } = collector.server.address() as AddressInfo
  const host = options.host.includes(':') ? `[${options.host}]` : options.host
  const url = `${options.tls ? 'https' : 'http'}://${host}:${port}`
  return { collector, url, warnings, close: () => collector.close() }
}
