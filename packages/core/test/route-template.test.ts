import { test } from 'node:test'
import assert from 'node:assert/strict'
import { joinRoute, joinTemplates, routePathName } from '../src/route-template.ts'

test('joinRoute: one name for a route however it was named', () => {
  assert.equal(joinRoute('', '/users/:id'), '/users/:id')
  assert.equal(joinRoute('/api', '/'), '/api', 'a route at the mount point is the mount path, without a trailing slash')
  assert.equal(joinRoute('/api', ''), '/api')
  assert.equal(joinRoute('/api', '/users/:id'), '/api/users/:id')
  assert.equal(joinRoute('/users/42', '/posts'), '/users/:id/posts', 'ids in the matched mount path collapse')
})

test('joinTemplates: a mount template is joined as it is, never normalized', () => {
  assert.equal(joinTemplates('/reports/2024-annual-review', '/:id'), '/reports/2024-annual-review/:id')
  assert.equal(joinTemplates('/users/:name', '/'), '/users/:name')
  assert.equal(joinTemplates('', ''), '/')
})

test('routePathName: strings, arrays and regexps', () => {
  assert.equal(routePathName('/a'), '/a')
  assert.equal(routePathName(['/a', '/b']), '/a|/b')
  assert.equal(routePathName(/^\/x\/\d+$/), '/^\\/x\\/\\d+$/')
})
