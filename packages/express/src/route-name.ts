/** A readable name for an Express route path: strings as they are, arrays joined, regexps as source. */
export function routePathName(path: unknown): string {
  if (typeof path === 'string') return path
  if (path instanceof RegExp) return `/${path.source}/`
  if (Array.isArray(path)) return path.map(routePathName).join('|')
  return String(path)
}

/**
 * Joins the mount path with the route path. Express only keeps the matched
 * mount path (`/users/42/posts`), so ids in it are collapsed like raw URLs.
 */
export function joinRoute(baseUrl: string, routePath: string, normalize: (p: string) => string): string {
  if (!baseUrl) return routePath
  const base = normalize(baseUrl)
  if (routePath === '/' || routePath === '') return base
  return base + routePath
}
