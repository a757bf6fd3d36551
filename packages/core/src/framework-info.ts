import { createRequire } from 'node:module'
import { join } from 'node:path'

export interface FrameworkInfo {
  name: string
  version: string
  /** What the framework runs on, where it runs on another (Nest on Express or Fastify). */
  platform?: { name: string; version: string }
}

/** The version of the framework the app itself resolves, or 'unknown'. */
export function frameworkInfo(name: string): FrameworkInfo {
  try {
    const require = createRequire(join(process.cwd(), 'noop.js'))
    const pkg = require(`${name}/package.json`) as { version?: string }
    return { name, version: pkg.version ?? 'unknown' }
  } catch {
    return { name, version: 'unknown' }
  }
}
