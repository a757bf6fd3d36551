// Real database servers for tests: PostgreSQL, MariaDB (MySQL's protocol) and
// Redis, each started on 127.0.0.1 on a free port with its own data folder in
// a temp dir, ready when the function resolves, and stopped by its pid.
// `scripts/install-servers.mjs` installs them where they are missing.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, chownSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './ports.ts'

export interface DbServer {
  host: string
  port: number
  user: string
  password: string
  database: string
  /** The server's process id. */
  pid: number
  /** Stops the server (by its pid) and removes its data folder. Idempotent. */
  stop(): Promise<void>
}

const HOST = '127.0.0.1'
const READY_TIMEOUT_MS = 60_000

/** A server binary: on PATH, in /usr/sbin, or in PostgreSQL's versioned folder (Debian puts initdb there). */
export function findBinary(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean)
  dirs.push('/usr/sbin', '/usr/local/sbin', '/sbin')
  try {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))
    for (const v of versions) dirs.push(`/usr/lib/postgresql/${v}/bin`)
  } catch {
    // no PostgreSQL from Debian's packages
  }
  for (const dir of dirs) {
    const path = join(dir, name)
    if (existsSync(path)) return path
  }
  return undefined
}

function need(name: string, server: string): string {
  const path = findBinary(name)
  if (path === undefined) throw new Error(`${name} not found: ${server} is not installed (run node scripts/install-servers.mjs as root)`)
  return path
}

/** uid and gid of a user from /etc/passwd. */
function userIds(name: string): { uid: number; gid: number } | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [user, , uid, gid] = line.split(':')
      if (user === name) return { uid: Number(uid), gid: Number(gid) }
    }
  } catch {
    // no passwd file
  }
  return undefined
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

/**
 * Starts `command` and resolves once a line of its output matches `ready`;
 * rejects with its output if it exits or takes too long first.
 */
function startUntilReady(command: string, args: string[], ready: RegExp, options: { uid?: number; gid?: number; cwd?: string } = {}): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
    let output = ''
    const timer = setTimeout(() => {
      // Rejected once it has exited: the caller then removes its data folder.
      child.off('exit', onExit)
      child.once('exit', () => reject(new Error(`${command} was not ready within ${READY_TIMEOUT_MS} ms:\n${output}`)))
      child.kill('SIGKILL')
    }, READY_TIMEOUT_MS)
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8')
      if (ready.test(output)) {
        clearTimeout(timer)
        child.off('exit', onExit)
        // Keep reading, so a full pipe never blocks the server.
        resolve(child)
      }
    }
    const onExit = (code: number | null, signal: string | null) => {
      clearTimeout(timer)
      reject(new Error(`${command} exited (${code ?? signal}) before it was ready:\n${output}`))
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', onExit)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

/** Stops a child by its pid (`signal`, then SIGKILL after 10 s) and removes `dir`. */
function stopper(child: ChildProcess, signal: NodeJS.Signals, dir: string): () => Promise<void> {
  let stopping: Promise<void> | undefined
  return () =>
    (stopping ??= new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        rmSync(dir, { recursive: true, force: true })
        resolve()
      }
      const timer = setTimeout(() => {
        if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
      }, 10_000)
      if (child.exitCode !== null || child.signalCode !== null) return done()
      child.once('exit', done)
      try {
        process.kill(child.pid!, signal)
      } catch {
        done()
      }
    }))
}

function run(command: string, args: string[], options: { uid?: number; gid?: number } = {}): void {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options })
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr || result.stdout || result.error?.message}`)
}

/**
 * PostgreSQL: `initdb` and the server refuse to run as root, so as root they
 * run as the `postgres` user (else `nobody`) on a data folder it owns.
 * Password authentication over TCP.
 */
export async function startPostgres(options: { user?: string; password?: string } = {}): Promise<DbServer> {
  const initdb = need('initdb', 'PostgreSQL')
  const postgres = need('postgres', 'PostgreSQL')
  const user = options.user ?? 'agent'
  const password = options.password ?? 'agent-test-password'
  const dir = mkdtempSync(join(tmpdir(), 'agent-pg-'))
  const ids = isRoot ? (userIds('postgres') ?? userIds('nobody')) : undefined
  if (isRoot && ids === undefined) throw new Error('no postgres or nobody user to run PostgreSQL as (it refuses root)')
  const data = join(dir, 'data')
  const pwfile = join(dir, 'pwfile')
  writeFileSync(pwfile, `${password}\n`)
  if (ids !== undefined) {
    chownSync(dir, ids.uid, ids.gid)
    chownSync(pwfile, ids.uid, ids.gid)
  }
  chmodSync(pwfile, 0o600)
  try {
    run(initdb, ['-D', data, '-U', user, `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--no-sync', '--locale=C'], ids ?? {})
    const port = await freePort()
    const child = await startUntilReady(postgres, [
      '-D', data, '-p', String(port), '-c', `listen_addresses=${HOST}`, '-c', `unix_socket_directories=${dir}`,
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
    ], /database system is ready to accept connections/, { ...(ids ?? {}), cwd: dir })
    // SIGINT: a fast shutdown, which does not wait for clients to leave.
    return { host: HOST, port, user, password, database: 'postgres', pid: child.pid!, stop: stopper(child, 'SIGINT', dir) }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

/**
 * MariaDB (the MySQL protocol): a fresh data folder from `mariadb-install-db`,
 * the server as root on a socket of its own in the temp dir, and a user with
 * a password and a database made by its init file before it says it is ready.
 */
export async function startMariadb(options: { user?: string; password?: string; database?: string } = {}): Promise<DbServer> {
  const installDb = need('mariadb-install-db', 'MariaDB')
  const mariadbd = findBinary('mariadbd') ?? need('mysqld', 'MariaDB')
  const user = options.user ?? 'agent'
  const password = options.password ?? 'agent-test-password'
  const database = options.database ?? 'agent_test'
  const dir = mkdtempSync(join(tmpdir(), 'agent-mariadb-'))
  const data = join(dir, 'data')
  const runAs = isRoot ? ['--user=root'] : []
  try {
    run(installDb, ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...runAs])
    const init = join(dir, 'init.sql')
    const q = (s: string) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")
    writeFileSync(init, [
      `CREATE DATABASE IF NOT EXISTS \`${database}\`;`,
      `CREATE USER IF NOT EXISTS '${q(user)}'@'%' IDENTIFIED BY '${q(password)}';`,
      `GRANT ALL PRIVILEGES ON *.* TO '${q(user)}'@'%';`,
      'FLUSH PRIVILEGES;',
    ].join('\n'))
    const port = await freePort()
    const child = await startUntilReady(mariadbd, [
      '--no-defaults', `--datadir=${data}`, `--socket=${join(dir, 'mysqld.sock')}`, `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--port=${port}`, `--bind-address=${HOST}`, '--skip-networking=0', `--init-file=${init}`,
      '--innodb-flush-log-at-trx-commit=0', '--skip-log-bin', '--max-connections=300', ...runAs,
    ], /ready for connections/, { cwd: dir })
    return { host: HOST, port, user, password, database, pid: child.pid!, stop: stopper(child, 'SIGTERM', dir) }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

/** Redis: no persistence, its working folder in the temp dir; a password only if asked for. */
export async function startRedis(options: { password?: string } = {}): Promise<DbServer> {
  const redisServer = need('redis-server', 'Redis')
  const dir = mkdtempSync(join(tmpdir(), 'agent-redis-'))
  try {
    const port = await freePort()
    const auth = options.password ? ['--requirepass', options.password] : []
    const child = await startUntilReady(redisServer, [
      '--port', String(port), '--bind', HOST, '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...auth,
    ], /Ready to accept connections/, { cwd: dir })
    return { host: HOST, port, user: 'default', password: options.password ?? '', database: '0', pid: child.pid!, stop: stopper(child, 'SIGTERM', dir) }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}
