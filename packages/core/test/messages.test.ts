import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { messages } from '../src/messages.ts'

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
const src = new URL('../src/', import.meta.url)
const sources = readdirSync(src).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(new URL(f, src), 'utf8')).join('\n')
/** The codes in the README's Messages table: rows that start with a code. */
const listed = [...readme.matchAll(/^\| `(AGENT_[A-Z_]+)` \|/gm)].map((m) => m[1]!)

test('every message code is listed in the README', () => {
  const missing = Object.keys(messages).filter((code) => !listed.includes(code))
  assert.deepEqual(missing, [], 'add these codes to the README\'s Messages table')
})

test('every code the README lists exists, and every code is used', () => {
  assert.deepEqual(listed.filter((code) => !(code in messages)), [], 'the README lists codes the registry does not have')
  const unused = Object.keys(messages).filter((code) => !new RegExp(`'${code}'|messages\\.${code}\\b`).test(sources))
  assert.deepEqual(unused, [], 'codes in the registry that nothing logs')
})
