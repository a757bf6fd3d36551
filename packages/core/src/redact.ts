/** Headers that never leave the process, whatever the configuration. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-auth-token'])

export const REDACTED = '[redacted]'

export class Redactor {
  private readonly pattern: RegExp | null

  constructor(sensitiveKeys: string[], private readonly extraHeaders: string[] = []) {
    const parts = sensitiveKeys.map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).filter(Boolean)
    this.pattern = parts.length ? new RegExp(parts.join('|'), 'i') : null
  }

  isSensitive(name: string): boolean {
    return this.pattern !== null && this.pattern.test(name)
  }

  /** A copy of the headers without secret ones. */
  headers(headers: Record<string, unknown>): Record<string, string> {
    const out: Record<string, string> = {}
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase()
      if (SECRET_HEADERS.has(lower) || this.extraHeaders.includes(lower)) continue
      out[lower] = this.isSensitive(lower) ? REDACTED : Array.isArray(value) ? value.join(', ') : String(value)
    }
    return out
  }

  /** A shallow copy of params with sensitive names' values replaced. */
  params(params: Record<string, unknown> | undefined): Record<string, string> | undefined {
    if (!params || typeof params !== 'object') return undefined
    const out: Record<string, string> = {}
    for (const [name, value] of Object.entries(params)) {
      out[name] = this.isSensitive(name) ? REDACTED : typeof value === 'string' ? value.slice(0, 256) : safeString(this.deep(value, 3))
    }
    return out
  }

  /** Nested values keep their shape, with sensitive names redacted at every level. */
  private deep(value: unknown, depth: number): unknown {
    if (value === null || typeof value !== 'object') return value
    if (depth === 0) return '[object]'
    if (Array.isArray(value)) return value.slice(0, 20).map((v) => this.deep(v, depth - 1))
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = this.isSensitive(k) ? REDACTED : this.deep(v, depth - 1)
    return out
  }

  /**
   * A URL with the values of sensitive query parameters replaced, and path
   * segments holding a sensitive route parameter (`/reset/:token`) too.
   */
  url(url: string, params?: Record<string, unknown>): string {
    if (params) url = this.pathParams(url, params)
    const q = url.indexOf('?')
    if (q === -1) return url
    const search = new URLSearchParams(url.slice(q + 1))
    for (const name of [...search.keys()]) if (this.isSensitive(name)) search.set(name, REDACTED)
    return `${url.slice(0, q)}?${search.toString()}`
  }

  private pathParams(url: string, params: Record<string, unknown>): string {
    const secrets = new Set<string>()
    for (const [name, value] of Object.entries(params)) {
      if (typeof value === 'string' && value !== '' && this.isSensitive(name)) secrets.add(value)
    }
    if (secrets.size === 0) return url
    const q = url.indexOf('?')
    const segments = (q === -1 ? url : url.slice(0, q)).split('/')
    const decoded = segments.map((seg) => {
      try {
        return decodeURIComponent(seg)
      } catch {
        return seg
      }
    })
    for (const secret of secrets) {
      // The segment that is the value; else the one that holds it beside another param (`/:user-:token`).
      const exact = decoded.includes(secret)
      for (let i = 0; i < segments.length; i++) {
        if (exact ? decoded[i] === secret : decoded[i]!.includes(secret)) segments[i] = REDACTED
      }
    }
    const redacted = segments.join('/')
    return q === -1 ? redacted : redacted + url.slice(q)
  }
}

function safeString(value: unknown): string {
  try {
    return (JSON.stringify(value) ?? String(value)).slice(0, 256)
  } catch {
    return '[unserializable]'
  }
}
