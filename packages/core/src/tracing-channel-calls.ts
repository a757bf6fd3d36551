import dc from 'node:diagnostics_channel'
import type { ClientCall } from './client-calls.js'

/** What a library publishes on its TracingChannel for one operation: its own object, read only. */
export type TraceContext = Record<string, unknown> & { error?: unknown }

/**
 * A library's TracingChannel (`mysql2:query`, `ioredis:command`) read as
 * client calls: a call starts at `start` (published where the app made the
 * call, so in its request's context) and ends at `asyncStart` (the callback
 * or the promise's settlement), or at `end` if the operation threw at once.
 * Subscribing costs the app nothing while the library is not loaded.
 */
export class TracingChannelCalls {
  private readonly calls = new WeakMap<object, ClientCall>()
  private readonly channel: ReturnType<typeof dc.tracingChannel> | undefined
  private subscribed = false

  private readonly handlers = {
    start: (context: unknown) => {
      try {
        const call = this.startCall(context as TraceContext)
        if (call !== undefined) this.calls.set(context as object, call)
      } catch {
        // the call goes unmeasured; the app's call is untouched
      }
    },
    end: (context: unknown) => {
      // Thrown before anything was sent: the call ends with its error now.
      const error = (context as TraceContext).error
      if (error !== undefined) this.finish(context as TraceContext, error)
    },
    asyncStart: (context: unknown) => {
      this.finish(context as TraceContext, (context as TraceContext).error)
    },
    asyncEnd: () => {},
    error: () => {},
  }

  constructor(name: string, private readonly startCall: (context: TraceContext) => ClientCall | undefined) {
    try {
      this.channel = typeof dc.tracingChannel === 'function' ? dc.tracingChannel(name) : undefined
    } catch {
      this.channel = undefined
    }
  }

  private finish(context: TraceContext, error: unknown): void {
    const call = this.calls.get(context)
    if (call === undefined) return
    this.calls.delete(context)
    call.end(error)
  }

  subscribe(): void {
    if (this.subscribed || this.channel === undefined) return
    this.channel.subscribe(this.handlers)
    this.subscribed = true
  }

  unsubscribe(): void {
    if (!this.subscribed || this.channel === undefined) return
    this.channel.unsubscribe(this.handlers)
    this.subscribed = false
  }
}
