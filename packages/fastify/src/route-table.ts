import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, sep } from 'node:path'

/** The part of find-my-way (Fastify's router) the table uses. */
interface Router {
  on(method: string | string[], path: string, opts: { constraints?: object }, handler: () => void, store: string): void
  find(method: string, path: string, constraints?: unknown): { store: unknown; params: Record<string, string | undefined> } | null
  constrainer?: { deriveConstraints(req: unknown, ctx?: unknown): unknown }
}
type RouterFactory = (options: Record<string, unknown>) => Router

/** The route options the table reads (and never writes): what an `onRoute` hook receives. */
export interface RouteSeen {
  method: string | string[]
  url: string
  prefix?: string
  routePath?: string
  prefixTrailingSlash?: string
  constraints?: Record<string, unknown>
}

const ROUTER_KEYS = ['ignoreTrailingSlash', 'ignoreDuplicateSlashes', 'caseSensitive', 'maxParamLength', 'allowUnsafeRegex', 'useSemicolonDelimiter'] as const
const NO_QUERY = Object.freeze({})
const noop = () => {}
/** A line of `printRoutes()`: the tree's indent (4 characters a level), a path segment, its methods. */
const TREE_LINE = /^((?:[│ ]   |[├└]── )*)(\S+)(?: \(([A-Z]+(?:, [A-Z]+)*)\))?/

/** find-my-way as the app's own Fastify resolves it, by the Fastify version: found once per version. */
const routers = new Map<string, RouterFactory | null>()

function routerFor(version: string): RouterFactory | undefined {
  let factory = routers.get(version)
  if (factory !== undefined) return factory ?? undefined
  factory = null
  // Fastify is CommonJS: the app's copy is in the module cache, ESM apps' too.
  for (const file of Object.keys(createRequire(import.meta.url).cache)) {
    if (!file.endsWith(`${sep}fastify.js`)) continue
    try {
      const dir = dirname(file)
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
      if (pkg.name !== 'fastify' || pkg.version !== version) continue
      factory = createRequire(file)('find-my-way') as RouterFactory
      break
    } catch {
      // not this one
    }
  }
  routers.set(version, factory)
  return factory ?? undefined
}

/**
 * The routes of one Fastify server, as its `onRoute` hooks saw them, in a
 * router of the app's own find-my-way built with the same options: it answers
 * which route template a raw request matches, where Fastify publishes nothing
 * (Fastify 4, and requests a hook answered before the handler).
 */
export class RouteTable {
  static for(version: string, initialConfig: Record<string, unknown> | undefined): RouteTable | undefined {
    const create = routerFor(version)
    if (!create) return undefined
    const config = initialConfig ?? {}
    const routerOptions = (config.routerOptions ?? {}) as Record<string, unknown>
    const options: Record<string, unknown> = { querystringParser: () => NO_QUERY }
    for (const key of ROUTER_KEYS) {
      const value = routerOptions[key] ?? config[key]
      if (value !== undefined) options[key] = value
    }
    return new RouteTable(create(options))
  }

  private constructor(private readonly router: Router) {}

  /** A route as `onRoute` sees it; a route the table cannot hold (a custom constraint) stays unnamed. */
  add(route: RouteSeen): void {
    this.on(route.method, route.url, route.constraints)
    // Fastify adds '/prefix/' beside '/prefix' for a plugin's '/' route without calling onRoute again.
    if (route.routePath === '' && route.prefix && (route.prefixTrailingSlash ?? 'both') === 'both' && route.method !== 'HEAD') {
      this.on(route.method, `${route.url}/`, route.constraints)
    }
  }

  private on(method: string | string[], url: string, constraints: Record<string, unknown> | undefined): void {
    try {
      this.router.on(method, url, constraints && Object.keys(constraints).length > 0 ? { constraints } : {}, noop, url)
    } catch {
      // a duplicate (HEAD routes), or a constraint strategy only the app's router knows
    }
  }

  /**
   * Routes the app added before the table existed, read once from Fastify's
   * own `printRoutes()` tree (each line a path segment under its parent, with
   * its methods): the only public list of an instance's routes.
   */
  addPrinted(tree: string): void {
    const paths: string[] = []
    for (const line of tree.split('\n')) {
      const m = TREE_LINE.exec(line)
      if (!m) continue
      const depth = m[1]!.length / 4
      const path = (depth > 0 ? (paths[depth - 1] ?? '') : '') + m[2]!
      paths[depth] = path
      paths.length = depth + 1
      if (m[3]) this.on(m[3].split(', '), path, undefined)
    }
  }

  /** The template and params of the route a request matches, if any. */
  match(req: { method?: string; url?: string }): { route: string; params: Record<string, string | undefined> } | undefined {
    try {
      const router = this.router
      const found = router.find(req.method ?? 'GET', req.url ?? '/', router.constrainer?.deriveConstraints(req))
      if (found === null || typeof found.store !== 'string') return undefined
      return { route: found.store, params: found.params }
    } catch {
      return undefined
    }
  }
}
