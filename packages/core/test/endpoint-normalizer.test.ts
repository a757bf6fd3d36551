import { test } from 'node:test'
import assert from 'node:assert/strict'
import { normalizePath, paramsFromTemplate, PathNames } from '../src/endpoint-normalizer.ts'

test('ids, uuids and hashes in raw paths become :id; the query goes', () => {
  assert.equal(normalizePath('/users/42?x=1'), '/users/:id')
  assert.equal(normalizePath('/orders/3f2b7c1e-9a4d-4e2b-8c1a-0d9e8f7a6b5c/items'), '/orders/:id/items')
  assert.equal(normalizePath('/blobs/0123456789abcdef0123'), '/blobs/:id')
  assert.equal(normalizePath('/health'), '/health')
  assert.equal(normalizePath(''), '/')
})

test('path parameters are read off the path by the template, decoded', () => {
  assert.deepEqual(paramsFromTemplate('/login/:token', '/login/s3cr%20t?next=/'), { token: 's3cr t' })
  assert.deepEqual(paramsFromTemplate('/users/:uid/posts/:pid', '/users/7/posts/9'), { uid: '7', pid: '9' })
  assert.equal(paramsFromTemplate('/health', '/health'), undefined)
  // A malformed escape stays as it came.
  assert.deepEqual(paramsFromTemplate('/f/:name', '/f/%E0%A4%A'), { name: '%E0%A4%A' })
})

test('path names are cached, and the cache is bounded', () => {
  const names = new PathNames(2)
  assert.equal(names.nameOf('/a/1'), '/a/:id')
  assert.equal(names.nameOf('/b/2'), '/b/:id')
  assert.equal(names.nameOf('/c/3'), '/c/:id')
  assert.equal(names.nameOf('/a/1?q'), '/a/:id')
  assert.ok((names as unknown as { names: Map<string, string> }).names.size <= 2, 'never more names than its bound')
})
