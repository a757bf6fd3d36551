// `doctor -- <command>`: runs the app's command for a few seconds and says,
// for each Node process of it, whether the agent came up there. The answer to
// "the preload did not reach the workers", which no check of the
// configuration alone can give.
import { spawn } from 'node:child_process'
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'

/** Set by `doctor --` for the app it runs: each process whose agent activates adds a line there. */
export const ENV_DOCTOR_FILE = 'AGENT_DOCTOR_FILE'

/** What one process's agent says when it activates under `doctor --`. */
export interface ActivationNote {
  pid: number
  ppid: number
  role: string
  state: string
}

/** Called at each activation; a no-op unless `doctor --` runs the process. Never throws. */
export function noteActivationForDoctor(note: ActivationNote, env: NodeJS.ProcessEnv = process.env): void {
  const file = env[ENV_DOCTOR_FILE]
  if (!file) return
  try {
    appendFileSync(file, JSON.stringify(note) + '\n')
  } catch {
    // the doctor will say this process did not report
  }
}

interface ProcessRow {
  pid: number
  ppid: number
  command: string
}

/** The processes descended from `root` (itself included), from /proc; undefined where there is none. */
function processTree(root: number): ProcessRow[] | undefined {
  let entries: string[]
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e))
  } catch {
    return undefined
  }
  const rows: ProcessRow[] = []
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // The command name is in parentheses and may hold spaces: the fields after its last ')' are fixed.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ')
      rows.push({ pid: Number(entry), ppid, command })
    } catch {
      // gone meanwhile
    }
  }
  const tree: ProcessRow[] = []
  const wanted = new Set([root])
  // Parents come before children in no particular order: grow the set until it stops growing.
  for (let grew = true; grew; ) {
    grew = false
    for (const row of rows) {
      if ((row.pid === root || wanted.has(row.ppid)) && !tree.includes(row)) {
        tree.push(row)
        wanted.add(row.pid)
        grew = true
      }
    }
  }
  return tree
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
const signal = (pid: number, name: NodeJS.Signals) => {
  try {
    process.kill(pid, name)
  } catch {
    // gone already
  }
}

/**
 * Ends the processes this command started, by pid: the command first (a
 * cluster primary stops its workers and forks no more), then whatever of
 * its tree is left, SIGKILL for what outlives a second.
 */
async function endAll(root: number | undefined, pids: number[], exited: Promise<unknown>): Promise<void> {
  if (root !== undefined) signal(root, 'SIGTERM')
  await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))])
  for (const pid of pids) if (alive(pid)) signal(pid, 'SIGTERM')
  await new Promise((r) => setTimeout(r, 1000))
  for (const pid of pids) if (alive(pid)) signal(pid, 'SIGKILL')
}

const isNode = (command: string) => /(^|\/)node(js)?(\s|$)/.test(command) || basename(command.split(' ')[0] ?? '') === basename(process.execPath)

/**
 * Runs `command` with the app's environment for `seconds` (or until it
 * exits), then ends every process it started, by pid, and reports per Node
 * process of the app whether its agent activated, with the fix where not.
 */
export async function watchApp(command: string[], env: NodeJS.ProcessEnv, seconds: number): Promise<{ lines: string[]; ok: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'agent-doctor-'))
  const notes = join(dir, 'activations.jsonl')
  const lines: string[] = [`running for ${seconds} s: ${command.join(' ')}`]
  let tree: ProcessRow[] | undefined
  // The tree is read while it runs: processes that end early are seen as long as they lived past a reading.
  const seen = new Map<number, ProcessRow>()
  let ended: number | null | undefined
  let activations: ActivationNote[] = []
  let child: ReturnType<typeof spawn> | undefined
  // Interrupted (Ctrl-C, a SIGTERM): the app's processes and the notes' folder go first, then the signal takes its course.
  const onSignal = (sig: NodeJS.Signals) => {
    for (const pid of [child?.pid, ...seen.keys()]) if (pid !== undefined && alive(pid)) signal(pid, 'SIGTERM')
    rmSync(dir, { recursive: true, force: true })
    process.kill(process.pid, sig)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const app = spawn(command[0]!, command.slice(1), { env: { ...env, [ENV_DOCTOR_FILE]: notes }, stdio: 'ignore' })
    child = app
    const exited = new Promise<number | null>((resolve) => {
      app.once('exit', (code) => resolve(code))
      app.once('error', () => resolve(null))
    })
    const deadline = Date.now() + seconds * 1000
    while (Date.now() < deadline && ended === undefined) {
      tree = app.pid !== undefined ? processTree(app.pid) : undefined
      for (const row of tree ?? []) seen.set(row.pid, row)
      ended = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 250))])
    }
    for (const row of app.pid !== undefined ? (processTree(app.pid) ?? []) : []) seen.set(row.pid, row)
    await endAll(app.pid, [...seen.keys()], exited)
    try {
      activations = readFileSync(notes, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ActivationNote)
    } catch {
      // no process activated an agent
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    rmSync(dir, { recursive: true, force: true })
  }
  if (ended !== undefined) lines.push(`  the command ended by itself (exit code ${ended}) within ${seconds} s`)
  const byPid = new Map(activations.map((a) => [a.pid, a]))
  if (tree === undefined && seen.size === 0) {
    // No /proc: only what reported can be listed.
    for (const a of activations) lines.push(`  pid ${a.pid}: agent ${a.state} (${a.role})`)
    lines.push('  (no /proc here: Node processes without an agent cannot be listed)')
    return { lines, ok: activations.length > 0 }
  }
  let ok = true
  for (const row of seen.values()) {
    if (!isNode(row.command)) continue
    const note = byPid.get(row.pid)
    if (note) {
      lines.push(`  pid ${row.pid} (${row.command.slice(0, 80)}): agent ${note.state} as ${note.role}`)
      continue
    }
    ok = false
    const parentHas = byPid.has(row.ppid)
    lines.push(`  problem: pid ${row.pid} (${row.command.slice(0, 80)}) runs without the agent${parentHas
      ? ': its parent has one, so the agent was loaded after this child was started, or the child was started with its own execArgv or env; load the agent first (--import @agent/<framework>/register, or NODE_OPTIONS="--import @agent/<framework>/register"), before cluster.fork or child_process.fork'
      : ': start it with --import @agent/<framework>/register (or NODE_OPTIONS="--import @agent/<framework>/register"), or install the agent in code before the server starts'}.`)
  }
  if (seen.size > 0 && ![...seen.values()].some((r) => isNode(r.command))) lines.push('  no Node process was seen: is the command a Node app?')
  for (const a of activations) if (!seen.has(a.pid)) lines.push(`  pid ${a.pid}: agent ${a.state} as ${a.role} (a process that ended between readings)`)
  return { lines, ok: ok && activations.length > 0 }
}
