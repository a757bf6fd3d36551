import { normalizePath } from './endpoint-normalizer.js'

/** A readable name for a route path: strings as they are, arrays joined, regexps as source. */
export function routePathName(path: unknown): string {
  if (typeof path === 'string') return path
  if (path instanceof RegExp) return `/${path.source}/`
  if (Array.isArray(path)) return path.map(routePathName).join('|')
  return String(path)
}

/**
 * A route template from the path a router is mounted at and the route's own
 * path, the one join for every integration, so a request gets the same name
 * however it was named. The mount path is the matched one (`/users/42/posts`:
 * Express keeps no template for it), so ids in it are collapsed like raw URLs;
 * a route at the mount point itself (`/`) is named by the mount path alone.
 */
export function joinRoute(mountPath: string, routePath: string): string {
  if (!mountPath) return routePath
  const base = normalizePath(mountPath)
  if (routePath === '/' || routePath === '') return base
  return base + routePath
}
