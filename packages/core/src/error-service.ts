import { createHash } from 'node:crypto'

export interface ErrorGroup {
  fingerprint: string
  type: string
  message: string
  stack: string
  route: string
  method: string
  count: number
  firstSeenMs: number
  lastSeenMs: number
  /** Filtered request context of the first occurrence. */
  context?: Record<string, unknown>
  /** The first occurrence's trace and span (its request's own), so its trace can be found. */
  traceId?: string
  spanId?: string
}

/** Groups per flush: a storm of distinct errors stays bounded. */
const MAX_GROUPS = 100
const MAX_STACK = 8 * 1024

/**
 * Captures errors grouped by fingerprint (type, message without numbers, top
 * frames, route) between flushes. It exists only when errors are enabled.
 */
export class ErrorService {
  private groups = new Map<string, ErrorGroup>()

  capture(error: unknown, method: string, route: string, context?: Record<string, unknown>, trace?: { traceId: string; spanId: string }): void {
    const err = error instanceof Error ? error : new Error(typeof error === 'string' ? error : safeJson(error))
    const type = err.name || 'Error'
    const message = String(err.message ?? '').slice(0, 1024)
    const stack = String(err.stack ?? '').slice(0, MAX_STACK)
    const frames = stack.split('\n').slice(1, 4).map((l) => l.trim().replace(/:\d+:\d+\)?$/, '')).join('|')
    const fingerprint = createHash('sha1').update(`${type}|${message.replace(/\d+/g, 'N')}|${frames}|${method} ${route}`).digest('hex').slice(0, 16)
    const now = Date.now()
    const group = this.groups.get(fingerprint)
    if (group) {
      group.count++
      group.lastSeenMs = now
      return
    }
    // Past the bound a new kind of error is not kept this interval; its request still counts as an error.
    if (this.groups.size >= MAX_GROUPS) return
    this.groups.set(fingerprint, { fingerprint, type, message, stack, route, method, count: 1, firstSeenMs: now, lastSeenMs: now, ...(context ? { context } : {}), ...(trace ? { traceId: trace.traceId, spanId: trace.spanId } : {}) })
  }

  get size(): number {
    return this.groups.size
  }

  drain(): ErrorGroup[] {
    const out = [...this.groups.values()]
    this.groups = new Map()
    return out
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
