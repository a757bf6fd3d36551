#!/usr/bin/env node
// Installs the database servers the tests run against, PostgreSQL 15, Redis 7
// and MariaDB 10.11, from Debian's packages: only those missing, after one
// `apt-get update`. Needs root; says clearly what to do otherwise. Exits 0
// when every server is there, 1 when one is still missing.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** Is `name` on PATH, in an sbin folder, or in PostgreSQL's versioned folder? */
function found(name) {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin', '/sbin']
  try {
    for (const v of readdirSync('/usr/lib/postgresql')) dirs.push(`/usr/lib/postgresql/${v}/bin`)
  } catch {
    // none from Debian's packages
  }
  return dirs.some((dir) => existsSync(join(dir, name)))
}

const servers = [
  { name: 'PostgreSQL', binaries: ['initdb', 'postgres'], packages: ['postgresql'] },
  { name: 'Redis', binaries: ['redis-server'], packages: ['redis-server'] },
  { name: 'MariaDB', binaries: ['mariadb-install-db', 'mariadbd'], packages: ['mariadb-server'] },
]

export function missingServers() {
  return servers.filter((s) => !s.binaries.every(found))
}

export function installServers({ log = (line) => process.stdout.write(`${line}\n`) } = {}) {
  const missing = missingServers()
  if (missing.length === 0) return true
  const names = missing.map((s) => s.name).join(', ')
  const packages = missing.flatMap((s) => s.packages)
  const command = `apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}`
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    log(`install-servers: ${names} missing; the database tests need them. Run as root: ${command}`)
    return false
  }
  if (!found('apt-get')) {
    log(`install-servers: ${names} missing and there is no apt-get here; install ${packages.join(', ')} with this system's package manager`)
    return false
  }
  log(`install-servers: installing ${names} (${packages.join(' ')})`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...packages]]) {
    const result = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env })
    if (result.status !== 0) {
      log(`install-servers: apt-get ${args[0]} failed (${result.status ?? result.signal ?? result.error?.message}); install them by hand: ${command}`)
      return false
    }
  }
  const still = missingServers()
  if (still.length > 0) {
    log(`install-servers: still missing after apt-get: ${still.map((s) => s.name).join(', ')}`)
    return false
  }
  log(`install-servers: ${names} installed`)
  return true
}

if (import.meta.url === `file://${process.argv[1]}`) process.exit(installServers() ? 0 : 1)
