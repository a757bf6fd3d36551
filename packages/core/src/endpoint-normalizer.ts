/**
 * Turns a raw URL path into a bounded endpoint name where no route template
 * exists: ids, uuids, hashes and numbers become `:id`, the query is dropped.
 */
const ID_SEGMENT = /^(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|[0-9A-Za-z_-]{24,})$/i

export function normalizePath(url: string): string {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const segments = path.split('/')
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!
    if (s !== '' && (ID_SEGMENT.test(s) || /\d/.test(s) && s.length > 8)) segments[i] = ':id'
  }
  const normalized = segments.slice(0, 12).join('/')
  return normalized === '' ? '/' : normalized
}

/** Strips the query string without allocating when there is none. */
export function pathOf(url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

/** Remembers recent paths' names: a server sees the same few paths again and again. */
export class PathNames {
  private readonly names = new Map<string, string>()
  constructor(private readonly max = 2000) {}

  nameOf(url: string): string {
    const path = pathOf(url)
    let name = this.names.get(path)
    if (name === undefined) {
      name = normalizePath(path)
      // Bounded: a crawler walking random URLs cannot grow it.
      if (this.names.size >= this.max) this.names.clear()
      this.names.set(path, name)
    }
    return name
  }
}

/**
 * The parameters a route template (`/reset/:token`) names in a request path,
 * read off the path at the request's end: the framework's own params object
 * is gone by then, and reading it earlier costs every request. For redaction.
 */
export function paramsFromTemplate(template: string, url: string): Record<string, string> | undefined {
  if (!template.includes(':')) return undefined
  const names = template.split('/')
  const values = pathOf(url).split('/')
  let params: Record<string, string> | undefined
  for (let i = 0; i < names.length && i < values.length; i++) {
    const name = /^:(\w+)/.exec(names[i]!)?.[1]
    if (name === undefined) continue
    let value = values[i]!
    try {
      value = decodeURIComponent(value)
    } catch {}
    ;(params ??= {})[name] = value
  }
  return params
}
