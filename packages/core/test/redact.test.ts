import { test } from 'node:test'
import assert from 'node:assert/strict'
import { REDACTED, Redactor } from '../src/redact.ts'

const redactor = new Redactor(['token', 'password'])

test('a sensitive route param is redacted from the path, a harmless one kept', () => {
  assert.equal(redactor.url('/reset/abc123?next=home', { token: 'abc123' }), `/reset/${REDACTED}?next=home`)
  assert.equal(redactor.url('/users/42', { id: '42' }), '/users/42')
  assert.equal(redactor.url('/reset/a%20b', { token: 'a b' }), `/reset/${REDACTED}`)
})

test('a segment holding a sensitive param beside another (`/:user-:token`) is redacted whole', () => {
  assert.equal(redactor.url('/pair/ann-tok-5ecret', { user: 'ann', token: 'tok-5ecret' }), `/pair/${REDACTED}`)
})

test('where a segment is the value, only that one goes: a short value elsewhere is kept', () => {
  assert.equal(redactor.url('/v1/orders/1', { token: '1' }), `/v1/orders/${REDACTED}`)
})

test('sensitive query parameters are redacted, the others kept', () => {
  assert.equal(redactor.url('/login?password=hunter2&page=2'), `/login?password=${encodeURIComponent(REDACTED)}&page=2`)
})
