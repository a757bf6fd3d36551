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
