import { normalizePath } from './endpoint-normalizer.js'

/** A readable name for a route path: strings as they are, arrays joined, regexps as source. */
export function routePathName(path: unknown): string {
  if (typeof path === 'string') return path
  if (path instanceof RegExp) return `/${path.source}/`
  if (Array.isArray(path)) return path.map(routePathName).join('|')
  return String(path)
}

/**
 * A route template from a mount template and the route's own path: the one
 * join every integration uses, so a request gets the same name however it was
 * named. A route at the mount point itself (`/`) is named by the mount alone.
 */
export function joinTemplates(mount: string, routePath: string): string {
  if (!mount) return routePath || '/'
  if (routePath === '/' || routePath === '') return mount
  return mount + routePath
}

/**
 * The same, where only the mount path matched in the URL is known
 * (`req.baseUrl`, `/users/42/posts`): ids in it are collapsed like raw URLs.
 */
export function joinRoute(mountPath: string, routePath: string): string {
  return joinTemplates(mountPath ? normalizePath(mountPath) : '', routePath)
}
