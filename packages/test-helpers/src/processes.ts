import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { isAbsolute } from 'node:path'

export interface Run {
  child: ChildProcess
  stdout: string
  stderr: string
  /** Resolves with code and signal when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
  /** Resolves with the line once stdout has a line matching. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>
  kill(signal?: NodeJS.Signals): void
}

/** Runs a fixture (an absolute path) in a real Node process; by default tsx loads TypeScript sources. */
export function runFixture(path: string, env: Record<string, string> = {}, options: SpawnOptions & { execArgv?: string[] } = {}): Run {
  if (!isAbsolute(path)) throw new Error(`runFixture needs an absolute path, got ${path}`)
  const child = spawn(process.execPath, [...(options.execArgv ?? ['--import', 'tsx']), path], {
    env: { ...process.env, AGENT_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    ...options,
  })
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() }))),
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = run.stdout.split('\n').find((l) => pattern.test(l))
          if (m !== undefined) {
            clearTimeout(timer)
            child.stdout!.off('data', check)
            resolve(m)
            return true
          }
          return false
        }
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; stdout: ${run.stdout}\nstderr: ${run.stderr}`)), timeoutMs)
        if (!check()) child.stdout!.on('data', check)
      })
    },
    kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    },
  }
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (run.stdout += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (run.stderr += d))
  return run
}

/** Bounded wait for an exit; kills the process (by its pid) if it overstays. */
export async function exitWithin(run: Run, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number } | 'hung'> {
  let timer: NodeJS.Timeout | undefined
  const result = await Promise.race([run.exited, new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), ms)))])
  clearTimeout(timer)
  if (result === 'hung') run.kill('SIGKILL')
  return result
}
