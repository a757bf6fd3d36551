// Beyond loopback, anyone who can reach the port could send data and read the dashboard:
// the collector refuses to start there without a credential for each side.
import { isIPv4, isIPv6 } from 'node:net'

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost') return true
  if (isIPv4(h)) return h.startsWith('127.')
  if (isIPv6(h)) return h === '::1' || h.startsWith('::ffff:127.')
  return false
}

export class ExposureError extends Error {}

export function checkExposure(host: string, credentials: { keys: number; dashboard: boolean }): void {
  if (isLoopback(host)) return
  const missing: string[] = []
  if (credentials.keys === 0) missing.push('a key for reports (--key KEY, or COLLECTOR_KEYS=k1,k2; agents send it as AGENT_KEY)')
  if (!credentials.dashboard) missing.push('a password for the dashboard and API (--dashboard-password, or COLLECTOR_DASHBOARD_PASSWORD; user --dashboard-user, default "admin")')
  if (missing.length === 0) return
  throw new ExposureError(`refusing to listen on ${host}: beyond loopback anyone who can reach the port could send data and read the dashboard, and there is no ${missing.join(', and no ')}. ` +
    'Give both, or listen on 127.0.0.1 (the default).')
}
