import type { ServerResponse } from 'node:http'
import { normalizePath } from '@agent/core/internal'

/**
 * What answered an Express request no route answered, from what Express and
 * its middleware leave on the request and the response: the automatic
 * OPTIONS reply (an `Allow` header), static files (serve-static's headers, or
 * its redirect to a trailing slash), else the path of the router or app the
 * middleware that answered was mounted at. Undefined where nothing tells:
 * core names the request by its status class then.
 */
export function whatAnswered(req: object, res: object): string | undefined {
  const request = req as { method?: string; route?: unknown; baseUrl?: string }
  const response = res as ServerResponse
  if (request.route) return undefined
  if (request.method === 'OPTIONS' && response.hasHeader('allow')) return 'automatic OPTIONS'
  const status = response.statusCode
  if ((status === 200 || status === 206 || status === 304) && response.hasHeader('accept-ranges') && response.hasHeader('last-modified')) return 'static files'
  if (status === 301 && /\/$/.test(String(response.getHeader('location') ?? ''))) return 'static files'
  // The matched mount path (ids in it become :id); core bounds how many such names an interval keeps.
  if (request.baseUrl) return `mounted at ${normalizePath(request.baseUrl)}`
  return undefined
}
