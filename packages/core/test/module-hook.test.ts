import { test } from 'node:test'
import assert from 'node:assert/strict'
import Module, { createRequire } from 'node:module'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { watchPackage } from '../src/module-hook.ts'

test('watchPackage: one Module._load wrapper for any number of watchers; told of loads and of what was loaded; never breaks a require', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-module-hook-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  for (const name of ['early', 'late', 'boom']) {
    mkdirSync(join(dir, 'node_modules', name, 'lib'), { recursive: true })
    writeFileSync(join(dir, 'node_modules', name, 'index.js'), `module.exports = { name: '${name}', sub: require('./lib/sub') }`)
    writeFileSync(join(dir, 'node_modules', name, 'lib', 'sub.js'), 'module.exports = 1')
  }
  const require = createRequire(join(dir, 'app.js'))
  const early = require('early')
  const seen: unknown[] = []
  const stopEarly = watchPackage('early', (e) => seen.push(e))
  assert.ok(seen.includes(early), 'told of the package loaded before it watched')
  const load = (Module as unknown as { _load: unknown })._load
  const stopLate = watchPackage('late', (e) => seen.push(e))
  watchPackage('boom', () => {
    throw new Error('a watcher that throws')
  })
  assert.equal((Module as unknown as { _load: unknown })._load, load, 'one wrapper')
  const late = require('late')
  assert.ok(seen.includes(late), 'told of a load (bare request)')
  assert.ok(seen.includes(1), 'told of its relative requires too')
  assert.equal(require('boom').name, 'boom')
  assert.throws(() => require('missing-package'), { code: 'MODULE_NOT_FOUND' })
  stopEarly()
  stopLate()
  const before = seen.length
  delete require.cache[require.resolve('late')]
  require('late')
  assert.equal(seen.length, before, 'not told once it stopped watching')
})
