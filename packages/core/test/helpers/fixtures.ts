import { fileURLToPath } from 'node:url'
import { isAbsolute, join } from 'node:path'
import { runFixture as runProcess, exitWithin, type Run } from '@agent/test-helpers/processes.ts'

/** core/test/fixtures */
export const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url))

/** Runs one of core's fixtures, named by its file name (or an absolute path), in a real Node process. */
export function runFixture(file: string, env?: Record<string, string>, options?: Parameters<typeof runProcess>[2]): Run {
  return runProcess(isAbsolute(file) ? file : join(FIXTURES, file), env, options)
}

export { exitWithin, type Run }

/**
 * `AGENT_SHUTDOWN_TIMEOUT_MS` for tests that count what arrives at exit, not how soon it leaves:
 * at `process.exit()` the delivery starts a Node process of its own, which a loaded 2-core machine
 * may take longer than the default 500 ms to start. The default's bound is tested apart
 * (export-e2e, exit-hook).
 */
export const EXIT_BUDGET_MS = '5000'
