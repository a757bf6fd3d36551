import type { ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import { Aggregator, type IntervalSnapshot } from './aggregator.js'
import type { AgentConfig } from './config.js'
import { PathNames, pathOf, paramsFromTemplate } from './endpoint-normalizer.js'
import { ErrorService, type ErrorGroup } from './error-service.js'
import { Redactor } from './redact.js'
import type { RequestRecord } from './request-record.js'
import { SlowTraceBuffer, type TraceRecord } from './slow-traces.js'

/** The endpoint for requests no route matched: one, never one per URL. */
export const UNMATCHED_ROUTE = '(unmatched)'
const SLOW_TRACES_PER_INTERVAL = 20

/** Names a request the integration could not name while it ran (its app was instrumented late). */
export type RouteResolver = (req: object) => string | undefined

/**
 * What happens at a request's end: it gets its endpoint name, is counted in
 * the interval's aggregate and, when slow or failed, is kept as a trace or an
 * error with its filtered context. The agent takes what it holds once per
 * interval (`takeInterval`, `takeSlowTraces`, `takeErrors`).
 */
export class RequestRecorder {
  readonly aggregator: Aggregator
  /** Exists only when errors are enabled. */
  readonly errors: ErrorService | undefined
  private readonly slowTraces = new SlowTraceBuffer(SLOW_TRACES_PER_INTERVAL)
  private readonly redactor: Redactor
  private readonly pathNames = new PathNames()
  private readonly ignoreExact: Set<string>
  private readonly ignorePrefixes: string[]
  private readonly slowRequestMs: number
  /** Asked, in order, for a request nothing named while it ran. */
  private readonly routeResolvers: RouteResolver[] = []

  constructor(config: Pick<AgentConfig, 'maxEndpoints' | 'errorsEnabled' | 'sensitiveKeys' | 'keyHeader' | 'ignorePaths' | 'slowRequestMs'>) {
    this.aggregator = new Aggregator(config.maxEndpoints)
    this.errors = config.errorsEnabled ? new ErrorService() : undefined
    // The agent's own key header is as secret as an authorization header.
    this.redactor = new Redactor(config.sensitiveKeys, [config.keyHeader.toLowerCase()])
    this.ignoreExact = new Set(config.ignorePaths.filter((p) => !p.endsWith('*')))
    this.ignorePrefixes = config.ignorePaths.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1))
    this.slowRequestMs = config.slowRequestMs
  }

  /** Paths not measured at all (health checks): `ignorePaths`, exact or with a trailing `*`. */
  ignores(url: string): boolean {
    if (this.ignoreExact.size === 0 && this.ignorePrefixes.length === 0) return false
    const path = pathOf(url)
    if (this.ignoreExact.has(path)) return true
    for (const prefix of this.ignorePrefixes) if (path.startsWith(prefix)) return true
    return false
  }

  addRouteResolver(resolve: RouteResolver): void {
    if (!this.routeResolvers.includes(resolve)) this.routeResolvers.push(resolve)
  }

  /** Requests or errors recorded and not yet taken. */
  get hasUnsent(): boolean {
    return this.aggregator.endpointCount > 0 || (this.errors?.size ?? 0) > 0
  }

  /** A request's end, from the HTTP instrumentation. */
  finish(record: RequestRecord, res: ServerResponse, aborted: boolean): void {
    const durationMs = performance.now() - record.start
    const status = res.statusCode
    const route = record.route ?? this.lateRoute(res) ?? (status === 404 ? UNMATCHED_ROUTE : this.pathNames.nameOf(record.url))
    // A thrown error the app turned into a 4xx is captured, but the request did not fail.
    this.aggregator.record(record.method, route, durationMs, status >= 500, aborted)
    const slow = durationMs >= this.slowRequestMs
    if ((record.error === undefined || !this.errors) && !slow) return
    const req = res.req as (typeof res.req & { params?: Record<string, unknown> }) | undefined
    const params = record.params ?? paramsFromTemplate(route, record.url) ?? req?.params
    const url = this.redactor.url(record.url, params)
    if (record.error !== undefined && this.errors) {
      this.errors.capture(record.error, record.method, route, {
        url,
        headers: req ? this.redactor.headers(req.headers) : {},
        ...(params ? { params: this.redactor.params(params) } : {}),
      })
    }
    if (slow) {
      const error = record.error
      this.slowTraces.add({
        method: record.method, route, url: pathOf(url), status, ...(record.name ? { name: record.name } : {}),
        startEpochMs: record.startEpochMs, durationMs, aborted, spans: record.spans ?? [], droppedSpans: record.droppedSpans,
        ...(error !== undefined ? { error: error instanceof Error ? error.message : String(error) } : {}),
      })
    }
  }

  private lateRoute(res: ServerResponse): string | undefined {
    for (const resolve of this.routeResolvers) {
      try {
        const route = resolve(res.req)
        if (route !== undefined) return route
      } catch {
        // a resolver never breaks the measurement
      }
    }
    return undefined
  }

  /** The interval's per-endpoint aggregate; the next one starts empty. */
  takeInterval(): IntervalSnapshot {
    return this.aggregator.drain()
  }

  takeSlowTraces(): TraceRecord[] {
    return this.slowTraces.drain()
  }

  takeErrors(): ErrorGroup[] {
    return this.errors && this.errors.size > 0 ? this.errors.drain() : []
  }
}
