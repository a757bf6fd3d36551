// Mount patterns read back from Express's own layers, 4 and 5: never a value from a URL.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { mountPattern } from '../src/mount-pattern.ts'

const require = createRequire(import.meta.url)
const noop = (_req: unknown, _res: unknown, next: () => void) => next()

const cases: [unknown, string][] = [
  ['/', ''],
  ['/users', '/users'],
  ['/users/', '/users'],
  ['/users/:name', '/users/:name'],
  ['/users/:name/posts/:postId', '/users/:name/posts/:postId'],
  ['/files/:file.:ext', '/files/:file.:ext'],
  [['/a', '/b/:id'], '/a|/b/:id'],
  [/^\/user\/id:(\d+)/, '/^\\/user\\/id:(\\d+)/'],
]
const express4Only: [unknown, string][] = [
  ['/users/:name?', '/users/:name?'],
  ['/item/:id(\\d+)', '/item/:id(\\d+)'],
]

for (const pkg of ['express', 'express4']) {
  test(`${pkg}: the pattern a router was mounted with`, () => {
    const express = require(pkg)
    const app = express()
    const all = pkg === 'express4' ? [...cases, ...express4Only] : cases
    for (const [path] of all) app.use(path, express.Router().use(noop))
    if (typeof app.lazyrouter === 'function') app.lazyrouter()
    const stack = (app._router ?? app.router).stack as { handle: { stack?: unknown } }[]
    const mounted = stack.filter((l) => Array.isArray(l.handle.stack))
    assert.equal(mounted.length, all.length)
    mounted.forEach((layer, i) => assert.equal(mountPattern(layer as never), all[i]![1], `mounted at ${String(all[i]![0])}`))
  })
}
