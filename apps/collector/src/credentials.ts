// Ingest keys and the dashboard's basic-auth credential, compared in constant time: both sides
// are hashed first, so neither the content nor the length of a secret shows in the timing.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest()

export interface DashboardCredential { user: string; password: string }

export class Credentials {
  private readonly keys: Buffer[]
  private readonly dashboard: Buffer | undefined

  constructor(keys: readonly string[], dashboard: DashboardCredential | undefined, private readonly keyHeader: string) {
    this.keys = keys.map(digest)
    this.dashboard = dashboard ? digest(`${dashboard.user}:${dashboard.password}`) : undefined
  }

  get ingestProtected(): boolean {
    return this.keys.length > 0
  }

  get dashboardProtected(): boolean {
    return this.dashboard !== undefined
  }

  /** With keys configured, the report must carry one of them (every key is compared, so which one matched does not show either). */
  ingestAllowed(req: IncomingMessage): boolean {
    if (this.keys.length === 0) return true
    const given = req.headers[this.keyHeader]
    if (typeof given !== 'string') return false
    const d = digest(given)
    let ok = false
    for (const k of this.keys) ok = timingSafeEqual(d, k) || ok
    return ok
  }

  dashboardAllowed(req: IncomingMessage): boolean {
    if (!this.dashboard) return true
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.headers.authorization ?? '')
    if (!m) return false
    return timingSafeEqual(digest(Buffer.from(m[1]!, 'base64').toString('utf8')), this.dashboard)
  }
}
