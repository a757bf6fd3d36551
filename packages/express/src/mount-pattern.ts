import { routePathName } from '@agent/core/internal'

/** The parts of an Express 4 or 5 (router 2.x) `Layer` read here. */
export interface LayerLike {
  route?: object
  handle?: unknown
  /** Router 2.3+ (Express 5): the pattern the layer was registered with. */
  rawPath?: unknown
  /** Express 4: the compiled pattern, and its keys. */
  regexp?: RegExp & { fast_slash?: boolean; fast_star?: boolean }
  keys?: { name: string | number; optional?: boolean }[]
}

/** How path-to-regexp 0.1 (Express 4) ends a non-ending pattern: the lookahead, or `$` for ending ones. */
const ENDINGS = ['(?=\\/|$)', '(?:\\/|$)', '$']
/** The captures path-to-regexp 0.1 writes for a plain `:name`. */
const PLAIN_CAPTURES = new Set(['([^/]+?)', '([^/\\.]+?)', '([^\\/]+?)', '([^\\/\\.]+?)'])

/** The index of the parenthesis closing the one at `open`, escapes and classes skipped. */
function closing(s: string, open: number): number {
  let depth = 0
  let inClass = false
  for (let i = open; i < s.length; i++) {
    const c = s[i]
    if (c === '\\') {
      i++
    } else if (inClass) {
      if (c === ']') inClass = false
    } else if (c === '[') {
      inClass = true
    } else if (c === '(') {
      depth++
    } else if (c === ')' && --depth === 0) {
      return i
    }
  }
  return -1
}

/**
 * One alternative of a pattern path-to-regexp 0.1 compiled from a string,
 * written back as that string: `^\/users\/(?:([^\/]+?))\/?(?=\/|$)` is
 * `/users/:name`. Undefined when it is not such a pattern (a RegExp of the app's).
 */
function fromCompiled(source: string, keys: { name: string | number; optional?: boolean }[], next: { key: number }): string | undefined {
  if (!source.startsWith('^')) return undefined
  let s = source.slice(1)
  const ending = ENDINGS.find((e) => s.endsWith(e))
  if (ending === undefined) return undefined
  s = s.slice(0, s.length - ending.length)
  if (s.endsWith('\\/?')) s = s.slice(0, -3)
  let out = ''
  for (let i = 0; i < s.length; ) {
    if (s.startsWith('(?:', i)) {
      const end = closing(s, i)
      if (end < 0) return undefined
      let inner = s.slice(i + 3, end)
      let lead = ''
      if (inner.startsWith('\\.')) (lead += '.'), (inner = inner.slice(2))
      if (inner.startsWith('\\/')) (lead += '/'), (inner = inner.slice(2))
      const key = keys[next.key]
      if (inner.startsWith('(') && key !== undefined) {
        const captureEnd = closing(inner, 0)
        const capture = inner.slice(0, captureEnd + 1)
        const star = inner.length > captureEnd + 1
        const plain = PLAIN_CAPTURES.has(capture) || capture.startsWith('((?:(?!\\/|')
        out += `${lead}:${key.name}${plain ? '' : capture}${star ? '*' : ''}`
        next.key += star ? 2 : 1
        i = end + 1
        if (s[i] === '?') (out += '?'), i++
        continue
      }
      // '/(' in the path: a group of the app's own
      out += lead + '(' + inner + ')'
      i = end + 1
      continue
    }
    if (s.startsWith('(.*)', i)) {
      out += '*'
      next.key++
      i += 4
      continue
    }
    if (s[i] === '\\') {
      out += s[i + 1] ?? ''
      i += 2
      continue
    }
    out += s[i]
    i++
  }
  return out
}

/**
 * The pattern a layer was mounted with, as a route name: `/users/:name` for
 * `use('/users/:name', router)`, `a|b` joined for arrays, `/source/` for a
 * RegExp, '' at the root. Never a value from the URL; undefined when the
 * layer's shape is unknown.
 */
export function mountPattern(layer: LayerLike): string | undefined {
  if ('rawPath' in layer) return mountName(layer.rawPath)
  const regexp = layer.regexp
  if (!(regexp instanceof RegExp)) return undefined
  if (regexp.fast_slash) return ''
  if (regexp.fast_star) return '*'
  const keys = layer.keys ?? []
  const next = { key: 0 }
  const parts: string[] = []
  for (const alternative of regexp.source.split(/\|(?=\^)/)) {
    const part = fromCompiled(alternative, keys, next)
    if (part === undefined) return routePathName(regexp)
    parts.push(part)
  }
  return parts.map(trimSlash).join('|')
}

function trimSlash(path: string): string {
  return path === '/' ? '' : path.endsWith('/') ? path.slice(0, -1) : path
}

function mountName(path: unknown): string | undefined {
  if (path === undefined || path === null) return undefined
  if (Array.isArray(path)) return path.map((p) => (typeof p === 'string' ? trimSlash(p) : routePathName(p))).join('|')
  return typeof path === 'string' ? trimSlash(path) : routePathName(path)
}
