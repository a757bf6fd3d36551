import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

/** The collector's SQLite file: everything it receives, kept across restarts. */
export class Store {
  readonly db: Database.Database

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    this.db = new Database(path)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = NORMAL')
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS processes (
        instance_id TEXT PRIMARY KEY, service TEXT NOT NULL, host TEXT, pid INTEGER, ppid INTEGER, role TEXT,
        parent_instance_id TEXT, worker_id TEXT, framework TEXT, runtime_version TEXT, first_seen INTEGER, last_seen INTEGER);
      CREATE TABLE IF NOT EXISTS endpoint_points (
        instance_id TEXT NOT NULL, service TEXT NOT NULL, method TEXT NOT NULL, route TEXT NOT NULL,
        start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, count INTEGER NOT NULL, errors INTEGER NOT NULL, aborted INTEGER NOT NULL,
        hist TEXT);
      CREATE INDEX IF NOT EXISTS endpoint_points_time ON endpoint_points (service, end_ms);
      CREATE TABLE IF NOT EXISTS runtime_points (instance_id TEXT NOT NULL, time_ms INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL);
      CREATE INDEX IF NOT EXISTS runtime_points_time ON runtime_points (instance_id, name, time_ms);
      CREATE TABLE IF NOT EXISTS spans (
        trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT, instance_id TEXT, service TEXT, name TEXT,
        start_ms REAL, end_ms REAL, status_code INTEGER, attributes TEXT, PRIMARY KEY (trace_id, span_id));
      CREATE TABLE IF NOT EXISTS errors (
        service TEXT NOT NULL, fingerprint TEXT NOT NULL, type TEXT, message TEXT, stack TEXT, method TEXT, route TEXT,
        count INTEGER NOT NULL, first_seen INTEGER, last_seen INTEGER, context TEXT, PRIMARY KEY (service, fingerprint));
      CREATE TABLE IF NOT EXISTS counters (service TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (service, name));
    `)
  }

  close(): void {
    this.db.close()
  }
}
