import { openSqlite, type Db } from './sqlite.js'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { rebuildRollups } from './rollups.js'

/** Columns added after the first release: an older file gets them on open (values for old rows in the default). */
const ADDED_COLUMNS: [table: string, column: string, definition: string][] = [
  // Rows written before histograms were stored in seconds hold the agent's ms data points.
  ['endpoint_points', 'unit', "TEXT NOT NULL DEFAULT 'ms'"],
  ['endpoint_points', 'source', "TEXT NOT NULL DEFAULT 'metrics'"],
  ['endpoint_points', 'rollup', 'INTEGER NOT NULL DEFAULT 0'],
  ['runtime_points', 'rollup', 'INTEGER NOT NULL DEFAULT 0'],
  ['processes', 'interval_ms', 'INTEGER'],
  ['processes', 'has_metrics', 'INTEGER NOT NULL DEFAULT 0'],
  ['spans', 'kind', 'INTEGER'],
  ['spans', 'slow', 'INTEGER NOT NULL DEFAULT 1'],
  ['spans', 'trace_state', 'TEXT'],
]

/** Bumped when the rollups' layout changes: a file with another (or none) has its rollups rebuilt on open. */
const ROLLUPS_VERSION = '1'

/** Opens a collector file with the schema in place; both the reader (dashboard) and the writer (ingest worker) use it. */
export function openDatabase(path: string): Db {
  if (path === ':memory:') throw new Error('the collector needs a database file (--db path/to/collector.db): ingest writes from a worker thread, which cannot share an in-memory database')
  mkdirSync(dirname(path), { recursive: true })
  const db = openSqlite(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  // The reader and the writer are two connections: wait for the other's lock rather than fail.
  db.pragma('busy_timeout = 5000')
  return db
}

function createSchema(db: Db): void {
  db.exec(`
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
    CREATE TABLE IF NOT EXISTS counter_points (service TEXT NOT NULL, name TEXT NOT NULL, time_ms INTEGER NOT NULL, value REAL NOT NULL);
    CREATE INDEX IF NOT EXISTS counter_points_time ON counter_points (service, time_ms);
    CREATE TABLE IF NOT EXISTS payload_ids (id TEXT PRIMARY KEY, received_ms INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS handovers (instance_id TEXT PRIMARY KEY, through INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS cumulative_state (series TEXT PRIMARY KEY, start_ns TEXT NOT NULL, time_ms INTEGER NOT NULL, point TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    -- Per-service rollups per hour, 5 minutes and minute (rollups.ts): t is the bucket's start.
    CREATE TABLE IF NOT EXISTS rollups (
      family TEXT NOT NULL, service TEXT NOT NULL, size_ms INTEGER NOT NULL, t INTEGER NOT NULL, key TEXT NOT NULL,
      n1 REAL NOT NULL, n2 REAL NOT NULL, n3 REAL NOT NULL, hist TEXT, PRIMARY KEY (family, service, size_ms, t, key));
    -- Points of the layer, N+1 and job families, for the raw window.
    CREATE TABLE IF NOT EXISTS points (
      family TEXT NOT NULL, instance_id TEXT NOT NULL, service TEXT NOT NULL, end_ms INTEGER NOT NULL, key TEXT NOT NULL,
      n1 REAL NOT NULL, n2 REAL NOT NULL, n3 REAL NOT NULL, hist TEXT);
    CREATE INDEX IF NOT EXISTS rollups_time ON rollups (size_ms, t);
    CREATE INDEX IF NOT EXISTS points_time ON points (family, service, end_ms);
    CREATE INDEX IF NOT EXISTS points_end ON points (end_ms);
    -- agent.queue.jobs: jobs per queue and state, as each process saw them.
    CREATE TABLE IF NOT EXISTS queue_points (service TEXT NOT NULL, instance_id TEXT NOT NULL, queue TEXT NOT NULL, state TEXT NOT NULL, time_ms INTEGER NOT NULL, value REAL NOT NULL);
    CREATE INDEX IF NOT EXISTS queue_points_latest ON queue_points (service, queue, state, time_ms);
    CREATE INDEX IF NOT EXISTS queue_points_time ON queue_points (time_ms);
    CREATE TABLE IF NOT EXISTS queues (service TEXT NOT NULL, queue TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (service, queue, state));
  `)
  for (const [table, column, definition] of ADDED_COLUMNS) {
    const has = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column)
    if (!has) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`)
  }
  db.exec(`
    CREATE INDEX IF NOT EXISTS endpoint_points_rollup ON endpoint_points (rollup, end_ms);
    -- The processes panel sums each process's requests in the range.
    CREATE INDEX IF NOT EXISTS endpoint_points_instance ON endpoint_points (instance_id, end_ms);
    CREATE INDEX IF NOT EXISTS runtime_points_rollup ON runtime_points (rollup, time_ms);
    -- The runtime panel reads each process's gauges (all names) at the edges of its range.
    CREATE INDEX IF NOT EXISTS runtime_points_instance ON runtime_points (instance_id, time_ms);
    DROP INDEX IF EXISTS spans_slow;
    -- The traces panel: the slowest listed roots of a service in a range, from the index alone.
    CREATE INDEX IF NOT EXISTS spans_roots ON spans (service, slow, start_ms, end_ms);
    CREATE INDEX IF NOT EXISTS spans_end ON spans (end_ms);
  `)
  const version = (db.prepare("SELECT value FROM meta WHERE name = 'rollups'").get() as { value: string } | undefined)?.value
  if (version !== ROLLUPS_VERSION) {
    // A file written before rollups (or with another layout): built once from its points.
    rebuildRollups(db)
    db.prepare("INSERT INTO meta (name, value) VALUES ('rollups', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value").run(ROLLUPS_VERSION)
  }
}

/** The collector's SQLite file: everything it receives, kept across restarts. */
export class Store {
  readonly db: Db

  constructor(readonly path: string) {
    this.db = openDatabase(path)
    createSchema(this.db)
  }

  close(): void {
    this.db.close()
  }
}
