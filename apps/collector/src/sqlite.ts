// The little of SQLite the collector uses, over two drivers: better-sqlite3 on Node 20 and 22,
// and Node's own node:sqlite from Node 24 on, where better-sqlite3 12 aborts the process when V8
// collects one of its statements outside a JS context (WiseLibs/better-sqlite3#1515), and
// better-sqlite3 13, which fixes that, does not run on Node 20.
import { createRequire } from 'node:module'

type Param = string | number | bigint | null | Uint8Array | Record<string, string | number | bigint | null | Uint8Array>

export interface Statement {
  run(...params: Param[]): { changes: number }
  get(...params: Param[]): unknown
  all(...params: Param[]): unknown[]
}

export interface Db {
  prepare(sql: string): Statement
  exec(sql: string): void
  /** `db.pragma('journal_mode = WAL')` */
  pragma(pragma: string): void
  /** A function that runs `fn` in a transaction; nested ones are savepoints. */
  transaction<T>(fn: () => T): () => T
  close(): void
}

/** Which driver a Node version gets: node:sqlite where better-sqlite3 12 is unsafe. */
export const usesNodeSqlite = Number(process.versions.node.split('.')[0]) >= 24

export function openSqlite(path: string): Db {
  return usesNodeSqlite ? nodeSqlite(path) : betterSqlite3(path)
}

function betterSqlite3(path: string): Db {
  const Database = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => Db & { pragma(p: string): unknown }
  const db = new Database(path)
  return {
    prepare: (sql) => db.prepare(sql),
    exec: (sql) => void db.exec(sql),
    pragma: (p) => void db.pragma(p),
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
  }
}

interface NodeSqliteDatabase {
  prepare(sql: string): Statement
  exec(sql: string): void
  close(): void
}

function nodeSqlite(path: string): Db {
  const { DatabaseSync } = createRequire(import.meta.url)('node:sqlite') as { DatabaseSync: new (path: string) => NodeSqliteDatabase }
  const db = new DatabaseSync(path)
  let depth = 0
  return {
    prepare: (sql) => db.prepare(sql),
    exec: (sql) => db.exec(sql),
    pragma: (p) => db.exec(`PRAGMA ${p}`),
    transaction: <T>(fn: () => T) => () => {
      const savepoint = `agent_${depth}`
      db.exec(depth === 0 ? 'BEGIN' : `SAVEPOINT ${savepoint}`)
      depth++
      try {
        const result = fn()
        depth--
        db.exec(depth === 0 ? 'COMMIT' : `RELEASE ${savepoint}`)
        return result
      } catch (err) {
        depth--
        db.exec(depth === 0 ? 'ROLLBACK' : `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`)
        throw err
      }
    },
    close: () => db.close(),
  }
}
