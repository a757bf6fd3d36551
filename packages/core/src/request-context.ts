import { AsyncLocalStorage } from 'node:async_hooks'
import { performance } from 'node:perf_hooks'
import type { RequestRecord, SpanRecord } from './request-record.js'

/** The request context: which request the running code works for. */
export const requestContext = new AsyncLocalStorage<RequestRecord>()

/**
 * Whether requests enter the context. Entering has a price on every Node
 * version, measured with callgrind: on Node 20 and 22 AsyncLocalStorage runs
 * on async hooks, which tax every promise of the app (about +10k instructions
 * per Fastify request); on Node 24 it runs on AsyncContextFrame, where
 * nothing is paid per promise but `enterWith` copies the frame (about 1.7k
 * instructions per request). Either is more than an app that never calls out
 * should pay, so requests enter the context only from the first sign that the
 * app will use it: a client library loaded (`pg`, `mysql2`, a Redis client),
 * a first call out, a first span of the app's own. The call or span that gave
 * the sign goes to the request in flight, if there is only one.
 */
export const contextState = {
  wanted: false,
  /**
   * Where the request that started last is: its connection's slot, set by the HTTP instrumentation.
   * The slot, not the record: the slot outlives its requests, and storing an old object into an old
   * one skips the write barrier's slow path (about 50 instructions a request on Node 24).
   */
  latest: undefined as { readonly record: RequestRecord | undefined } | undefined,
  /** HTTP requests in flight (read while the context is off, see `currentRequest`). */
  inFlight: 0,
}

/** From now on every request enters the context (see `contextState`); idempotent. */
export function wantContext(): void {
  contextState.wanted = true
}

/** The request the running code works for, if any (and if still in flight). */
export function currentRequest(): RequestRecord | undefined {
  const record = requestContext.getStore()
  if (record !== undefined) return record.done ? undefined : record
  if (contextState.wanted) return undefined
  // The context is off: this is the first sign that it is needed. The call
  // is the request's only if no other is in flight to be confused with it.
  wantContext()
  const latest = contextState.latest?.record
  if (latest === undefined || latest.done || contextState.inFlight !== 1) return undefined
  // The rest of this request's work (the calls it makes next) runs in its context.
  requestContext.enterWith(latest)
  return latest
}

export interface ActiveSpan {
  end(error?: unknown): void
}

const noopSpan: ActiveSpan = { end() {} }

/** Times a piece of work as a child span of the current request, if any. */
export function startSpan(name: string, attributes?: SpanRecord['attributes']): ActiveSpan {
  const request = currentRequest()
  if (request === undefined) return noopSpan
  const startedAt = performance.now()
  let ended = false
  return {
    end(error?: unknown) {
      // A span that outlives its request is not part of it.
      if (ended || request.done) return
      ended = true
      const span: SpanRecord = { name, offsetMs: startedAt - request.start, durationMs: performance.now() - startedAt }
      if (attributes) span.attributes = attributes
      if (error !== undefined) span.error = error instanceof Error ? error.message : String(error)
      request.addSpan(span)
    },
  }
}
