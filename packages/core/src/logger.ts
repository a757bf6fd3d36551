import { messages, type MessageCode } from './messages.js'

export const LOG_LEVELS = ['silent', 'error', 'warn', 'info', 'debug'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

const rank: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 }

type Args<C extends MessageCode> = Parameters<(typeof messages)[C]>

/**
 * A small logger, quiet by default. It writes whole lines to stderr
 * synchronously so a line is never lost at exit, and it is never called from
 * the per-request path. `once` keys keep a repeated problem to one line.
 */
export class Logger {
  level: LogLevel
  private readonly said = new Set<string>()
  private readonly write: (line: string) => void

  constructor(level: LogLevel = 'info', write?: (line: string) => void) {
    this.level = level
    this.write = write ?? ((line) => {
      try {
        process.stderr.write(line)
      } catch {
        // stderr closed: nothing better to do, and never throw into the app.
      }
    })
  }

  enabled(level: Exclude<LogLevel, 'silent'>): boolean {
    return rank[this.level] >= rank[level]
  }

  log(level: Exclude<LogLevel, 'silent'>, text: string): void {
    if (!this.enabled(level)) return
    this.write(`[agent] ${level}: ${text} (pid ${process.pid})\n`)
  }

  error(text: string): void { this.log('error', text) }
  warn(text: string): void { this.log('warn', text) }
  info(text: string): void { this.log('info', text) }
  debug(text: string): void { this.log('debug', text) }

  /** Logs a registered message with its code. */
  report<C extends MessageCode>(level: Exclude<LogLevel, 'silent'>, code: C, ...args: Args<C>): void {
    if (!this.enabled(level)) return
    const text = (messages[code] as (...a: Args<C>) => string)(...args)
    this.log(level, `${code}: ${text}`)
  }

  /** Like report, but only the first time `key` is seen until `forget(key)`. */
  reportOnce<C extends MessageCode>(key: string, level: Exclude<LogLevel, 'silent'>, code: C, ...args: Args<C>): boolean {
    if (this.said.has(key)) return false
    this.said.add(key)
    this.report(level, code, ...args)
    return true
  }

  forget(key: string): void {
    this.said.delete(key)
  }
}
