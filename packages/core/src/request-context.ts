import { AsyncLocalStorage } from 'node:async_hooks'
import { performance } from 'node:perf_hooks'
import type { RequestRecord, SpanRecord } from './request-record.js'

/** The request context: which request the running code works for. */
export const requestContext = new AsyncLocalStorage<RequestRecord>()

/**
 * Whether requests enter the context. On Node 20 AsyncLocalStorage runs on
 * async hooks, which tax every promise of the app; so the context is entered
 * only once the app has asked for a span (its first span is not recorded).
 */
export const contextState = { wanted: false }

export function currentRequest(): RequestRecord | undefined {
  return requestContext.getStore()
}

export interface ActiveSpan {
  end(error?: unknown): void
}

const noopSpan: ActiveSpan = { end() {} }

/** Times a piece of work as a child span of the current request, if any. */
export function startSpan(name: string, attributes?: SpanRecord['attributes']): ActiveSpan {
  contextState.wanted = true
  const request = requestContext.getStore()
  if (request === undefined) return noopSpan
  const startedAt = performance.now()
  let ended = false
  return {
    end(error?: unknown) {
      if (ended) return
      ended = true
      const span: SpanRecord = { name, offsetMs: startedAt - request.start, durationMs: performance.now() - startedAt }
      if (attributes) span.attributes = attributes
      if (error !== undefined) span.error = error instanceof Error ? error.message : String(error)
      request.addSpan(span)
    },
  }
}
