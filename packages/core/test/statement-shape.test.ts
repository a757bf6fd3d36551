import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MAX_SHAPE_LENGTH, redisShapeOf, sqlOperationOf, sqlShapeOf, sqlStatement } from '../src/statement-shape.ts'

test('SQL shapes: every literal is a ?, identifiers and placeholders stay', () => {
  const pg: [string, string][] = [
    ["SELECT * FROM users WHERE password = 'hunter2' AND id = 42", 'SELECT * FROM users WHERE password = ? AND id = ?'],
    ["SELECT 'it''s', E'a\\'b hunter2', $$hunter2$$, $tag$ it's $$ hunter2 $tag$ FROM t", 'SELECT ?, ?, ?, ? FROM t'],
    ["SELECT x'FF', B'0101', 1.5e10, .5, 0xFF, TRUE, false, NULL FROM t1", 'SELECT ?, ?, ?, ?, ?, ?, ?, NULL FROM t1'],
    ['SELECT "Col1", t2.col_3, $1, $12::int FROM "Table 9"', 'SELECT "Col1", t2.col_3, $1, $12::int FROM "Table 9"'],
    ["SELECT 1 -- 'hunter2'\n/* hunter2 */ FROM t", 'SELECT ? FROM t'],
    ['select a from t where x in (1, 2, 3) and y IN ($1,$2) and z = $3', 'select a from t where x IN (?) and y IN (?) and z = $3'],
    ['INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)', 'INSERT INTO t (a, b) VALUES ($1, $2)'],
    ["SELECT 'unterminated hunter2", 'SELECT ?'],
    ['SELECT $body$ unterminated hunter2', 'SELECT ?'],
  ]
  for (const [sql, shape] of pg) assert.equal(sqlShapeOf(sql, 'postgresql'), shape, sql)
  const mysql: [string, string][] = [
    ["SELECT * FROM `t` WHERE a = 'it\\'s hunter2' AND b = \"hunter2\" # hunter2\n AND c = X'0A' AND d = -12", 'SELECT * FROM `t` WHERE a = ? AND b = ? AND c = ? AND d = -?'],
    ["INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')", 'INSERT INTO t (a, b) VALUES (?, ?)'],
    ["SELECT ? FROM t WHERE a IN (?, ?, ?) AND b = 'x\\\\' AND c = 'hunter2'", 'SELECT ? FROM t WHERE a IN (?) AND b = ? AND c = ?'],
  ]
  for (const [sql, shape] of mysql) assert.equal(sqlShapeOf(sql, 'mysql'), shape, sql)
})

test('SQL shapes are bounded, named by their first keyword, and remembered per text', () => {
  const long = `SELECT ${Array.from({ length: 2000 }, (_, i) => `c${i}`).join(', ')} FROM t`
  assert.ok(sqlShapeOf(long, 'postgresql').length <= MAX_SHAPE_LENGTH)
  assert.equal(sqlOperationOf('  (SELECT ?)'), 'SELECT')
  assert.equal(sqlOperationOf('with x as (select ?) select * from x'), 'WITH')
  assert.equal(sqlOperationOf('?'), 'QUERY')
  const a = sqlStatement('UPDATE t SET a = 1', 'postgresql')
  assert.equal(sqlStatement('UPDATE t SET a = 1', 'postgresql'), a)
  assert.deepEqual(a, { shape: 'UPDATE t SET a = ?', operation: 'UPDATE' })
})

test('Redis shapes: the command and a ? per argument, at most 8', () => {
  assert.equal(redisShapeOf('get', 1), 'GET ?')
  assert.equal(redisShapeOf('SET', 2), 'SET ? ?')
  assert.equal(redisShapeOf('PING', 0), 'PING')
  assert.equal(redisShapeOf('mget', 20), 'MGET ? ? ? ? ? ? ? ? …')
})
