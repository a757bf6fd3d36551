import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import { Aggregator, type CallStats, type IntervalSnapshot, type JobOutcome } from './aggregator.js'
import type { AgentConfig } from './config.js'
import { PathNames, pathOf, paramsFromTemplate } from './endpoint-normalizer.js'
import { ErrorService, type ErrorGroup } from './error-service.js'
import { Redactor } from './redact.js'
import { LAYERS } from './layer-clock.js'
import type { JobRecord } from './job-record.js'
import { ClientCall } from './client-calls.js'
import { traceOf, type RequestRecord, type SpanRecord } from './request-record.js'
import { SlowTraceBuffer, type TraceReason, type TraceRecord } from './slow-traces.js'

/** The first answer of the integrations' helpers to a request, in order; one that throws is passed over. */
function firstAnswer<T>(helpers: ((req: object) => T | undefined)[], req: object): T | undefined {
  for (const ask of helpers) {
    try {
      const answer = ask(req)
      if (answer !== undefined) return answer
    } catch {
      // a helper never breaks the measurement
    }
  }
  return undefined
}

/** The endpoint for requests nothing answered (404): one, never one per URL. */
export const UNMATCHED_ROUTE = '(unmatched)'
/** How many recent unrouted URLs are kept (a power of two: a URL's slot is its length's low bits). */
const RECENT_URL_SLOTS = 8
const SLOW_TRACES_PER_INTERVAL = 20
/** Endpoints per interval that get an example trace of their N+1 pattern (one each). */
const N_PLUS_ONE_EXAMPLES_PER_INTERVAL = 20
/** Normalized-path names per interval for requests no route named, where the app has no routes to name them. */
const MAX_PATH_NAMES = 50

/** The name of an unrouted request past the path names: one per status class (`(unmatched 4xx)`). */
function unmatchedClass(status: number): string {
  const cls = (status / 100) | 0
  return cls >= 1 && cls <= 5 ? `(unmatched ${cls}xx)` : UNMATCHED_ROUTE
}

/** A kept trace's span: a call out is made a span only now. */
const exportedSpan = (span: SpanRecord | ClientCall): SpanRecord => (span instanceof ClientCall ? span.toSpan() : span)

/** What a request's and a job's trace share: ids, timing, spans and the error's message. */
function traceFields(record: RequestRecord, reason: TraceReason, durationMs: number, error = record.error) {
  return {
    trace: traceOf(record), reason, startEpochMs: record.startEpochMs, durationMs, spans: record.spans?.map(exportedSpan) ?? [], droppedSpans: record.droppedSpans,
    ...(error !== undefined ? { error: error instanceof Error ? error.message : String(error) } : {}),
  }
}

type RecorderConfig = Pick<AgentConfig, 'maxEndpoints' | 'errorsEnabled' | 'sensitiveKeys' | 'keyHeader' | 'ignorePaths' | 'slowRequestMs' | 'nPlusOneThreshold'>

/** Names a request the integration could not name while it ran (its app was instrumented late). */
export type RouteResolver = (req: object) => string | undefined

/**
 * Names the handler that served a request kept as a trace, where the
 * integration did not name it while it ran (Nest on platform-express: its
 * controller method, from the route Express left on the request). Asked only
 * for a request kept as a trace.
 */
export type HandlerNamer = (req: object) => string | undefined

/**
 * Finds a request's route params where the framework keeps them off `req`
 * (Fastify), to redact them from its URL. Asked only for a request kept as an
 * error or a trace.
 */
export type ParamsResolver = (req: object) => Record<string, unknown> | undefined

/**
 * Says what answered a request no route answered, where the framework can
 * tell (`static files`, `automatic OPTIONS`, `mounted at /api`): the request
 * is then named `(static files)`. Asked only for requests no route named.
 */
export type UnroutedNamer = (req: object, res: object) => string | undefined

/** Names of what answered unrouted requests, per interval; past it, the status class. */
const MAX_ANSWERER_NAMES = 20

/** Names the agent made up this interval, at most `limit` of them: a crawler cannot grow it. */
class BoundedNames {
  private used = new Set<string>()
  constructor(private readonly limit: number) {}

  /** `name` if it is one of this interval's or there is room for it, else undefined. */
  admit(name: string): string | undefined {
    if (this.used.has(name)) return name
    if (this.used.size >= this.limit) return undefined
    this.used.add(name)
    return name
  }

  reset(): void {
    this.used = new Set()
  }
}

/**
 * What happens at a request's end: it gets its endpoint name, is counted in
 * the interval's aggregate and, when slow or failed, is kept as a trace or an
 * error with its filtered context. The agent takes what it holds once per
 * interval (`takeInterval`, `takeTraces`, `takeErrors`).
 */
export class RequestRecorder {
  readonly aggregator: Aggregator
  /** Exists only when errors are enabled. */
  errors: ErrorService | undefined
  private readonly slowTraces = new SlowTraceBuffer(SLOW_TRACES_PER_INTERVAL)
  private redactor!: Redactor
  private readonly pathNames = new PathNames()
  private ignoreExact!: Set<string>
  private ignorePrefixes!: string[]
  private slowRequestMs!: number
  private nPlusOneThreshold!: number
  /** One example trace per endpoint per interval of its N+1 pattern, slow or not, keyed `method route`. */
  private nPlusOneExamples = new Map<string, TraceRecord>()
  /** Asked, in order, for a request nothing named while it ran. */
  private readonly routeResolvers: RouteResolver[] = []
  /**
   * A framework integration names requests by their routes: one it did not
   * name was answered before any route (an auth check, a body parser, static
   * files, a scanner's URL) and gets a status-class name, never its URL.
   */
  routesExpected = false
  /** Path names given to unrouted requests this interval. */
  private readonly pathNamesUsed = new BoundedNames(MAX_PATH_NAMES)
  /**
   * The last unrouted URL of each length class, and the name it got this interval: a server
   * without routes sees the same URLs again and again, and comparing a request's fresh URL string
   * with one kept costs less than hashing it for `pathNames` (callgrind, plain http: 0.5k a request).
   */
  private readonly recentUrls: (string | undefined)[] = new Array(RECENT_URL_SLOTS).fill(undefined)
  private readonly recentNames: (string | undefined)[] = new Array(RECENT_URL_SLOTS).fill(undefined)
  private readonly unroutedNamers: UnroutedNamer[] = []
  /** Asked, in order, for the params of a request kept as an error or a trace. */
  private readonly paramsResolvers: ParamsResolver[] = []
  /** Asked, in order, for the handler's name of a request kept as a trace. */
  private readonly handlerNamers: HandlerNamer[] = []
  /** Names of what answered unrouted requests this interval. */
  private readonly answererNamesUsed = new BoundedNames(MAX_ANSWERER_NAMES)

  constructor(config: RecorderConfig) {
    this.aggregator = new Aggregator(config.maxEndpoints)
    this.configure(config)
  }

  /** Takes the configuration (again, before a deferred start); what was recorded stays. */
  configure(config: RecorderConfig): void {
    this.aggregator.maxEndpoints = config.maxEndpoints
    if (!config.errorsEnabled) this.errors = undefined
    else this.errors ??= new ErrorService()
    // The agent's own key header is as secret as an authorization header.
    this.redactor = new Redactor(config.sensitiveKeys, [config.keyHeader.toLowerCase()])
    this.ignoreExact = new Set(config.ignorePaths.filter((p) => !p.endsWith('*')))
    this.ignorePrefixes = config.ignorePaths.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1))
    this.slowRequestMs = config.slowRequestMs
    this.nPlusOneThreshold = config.nPlusOneThreshold
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

  addParamsResolver(find: ParamsResolver): void {
    if (!this.paramsResolvers.includes(find)) this.paramsResolvers.push(find)
  }

  addHandlerNamer(name: HandlerNamer): void {
    if (!this.handlerNamers.includes(name)) this.handlerNamers.push(name)
  }

  addUnroutedNamer(name: UnroutedNamer): void {
    if (!this.unroutedNamers.includes(name)) this.unroutedNamers.push(name)
  }

  /** Requests or errors recorded and not yet taken. */
  get hasUnsent(): boolean {
    return this.aggregator.namesWithData > 0 || (this.errors?.size ?? 0) > 0
  }

  /**
   * A request's end, from the HTTP instrumentation, with its response (none
   * only where a closed connection no longer names it: status 0).
   */
  finish(record: RequestRecord, res: ServerResponse | undefined, aborted: boolean): void {
    const endMs = performance.now()
    const durationMs = endMs - record.start
    const status = res !== undefined ? res.statusCode : 0
    // The request as the record holds it, not `res.req`: a read from Express's response misses V8's caches.
    const req = record.req!
    const named = record.route ?? this.lateRoute(req)
    const route = named ?? this.unroutedName(record.url, status, req, res)
    // A thrown error the app turned into a 4xx is captured, but the request did not fail.
    // In seconds, the unit OpenTelemetry's conventions give http.server.request.duration.
    const stats = this.aggregator.record(record.method, route, durationMs / 1000, status >= 500, aborted, named !== undefined)
    const nPlusOne = record.layers !== undefined && this.recordInside(record, stats, endMs)
    const slow = durationMs >= this.slowRequestMs
    if ((record.error === undefined || !this.errors) && !slow && !nPlusOne) return
    this.keepDetails(record, req, route, status, aborted, slow, nPlusOne, durationMs)
  }

  /**
   * The error and trace of a request that has either, apart from `finish`: V8 counts a function's whole
   * bytecode against the budget for inlining into it, and with this in `finish` the calls it makes for
   * every request stayed calls (each boxing the duration it passed, 16 bytes a request).
   */
  private keepDetails(record: RequestRecord, request: object, route: string, status: number, aborted: boolean, slow: boolean, nPlusOne: boolean, durationMs: number): void {
    const req = request as { headers?: IncomingHttpHeaders; params?: Record<string, unknown> }
    const params = this.paramsOf(req) ?? paramsFromTemplate(route, record.url) ?? req.params
    const url = this.redactor.url(record.url, params)
    if (record.error !== undefined && this.errors) {
      this.errors.capture(record.error, record.method, route, {
        url,
        headers: req.headers !== undefined ? this.redactor.headers(req.headers) : {},
        ...(params ? { params: this.redactor.params(params) } : {}),
      }, traceOf(record))
    }
    if (slow || nPlusOne) this.keepRequestTrace(record, route, url, status, aborted, slow, durationMs, record.name ?? this.handlerNameOf(req))
  }

  /**
   * Apart from `finish`: a closure there would put the variables it captures in a context that every
   * request allocates at `finish`'s entry (V8 makes a function's context before knowing whether a
   * closure will need it), and slows every read of them.
   */
  private keepRequestTrace(record: RequestRecord, route: string, url: string, status: number, aborted: boolean, slow: boolean, durationMs: number, name: string | undefined): void {
    this.keepTrace(`${record.method} ${route}`, slow, (reason) => ({
      ...traceFields(record, reason, durationMs),
      method: record.method, route, url: pathOf(url), status, aborted, ...(name ? { name } : {}),
    }))
  }

  /**
   * A slow request's (or job's) trace competes for the slowest of the
   * interval; one that is not slow but has an N+1 pattern is its endpoint's
   * one example of the interval, if none is kept yet.
   */
  private keepTrace(key: string, slow: boolean, build: (reason: TraceReason) => TraceRecord): void {
    if (slow) this.slowTraces.add(build('slow'))
    else if (!this.nPlusOneExamples.has(key) && this.nPlusOneExamples.size < N_PLUS_ONE_EXAMPLES_PER_INTERVAL) this.nPlusOneExamples.set(key, build('n_plus_one'))
  }

  /** A job's end (see jobs.ts): measured like a request, under its queue and name. */
  finishJob(record: JobRecord, outcome: JobOutcome, error: unknown): void {
    const endMs = performance.now()
    const durationMs = endMs - record.start
    const { system, queue, name, id } = record.job
    const waitMs = record.job.enqueuedAtMs !== undefined ? Math.max(0, record.startEpochMs - record.job.enqueuedAtMs) : undefined
    const stats = this.aggregator.recordJob(system, queue, name, outcome, durationMs / 1000, waitMs !== undefined ? waitMs / 1000 : undefined)
    const nPlusOne = record.layers !== undefined && this.recordInside(record, stats, endMs)
    const label = queue !== undefined ? `${queue}/${name}` : name
    // The job's id names the occurrence; its data never leaves the process.
    if (error !== undefined && this.errors) this.errors.capture(error, 'JOB', label, id !== undefined ? { jobId: id } : undefined, traceOf(record))
    const slow = durationMs >= this.slowRequestMs
    if (slow || nPlusOne) this.keepJobTrace(record, label, outcome, error, slow, durationMs)
  }

  /** Apart from `finishJob`, for the reason `keepRequestTrace` is apart from `finish`. */
  private keepJobTrace(record: JobRecord, label: string, outcome: JobOutcome, error: unknown, slow: boolean, durationMs: number): void {
    const { system, queue, name, id } = record.job
    this.keepTrace(`JOB ${label}`, slow, (reason) => ({
      ...traceFields(record, reason, durationMs, error),
      method: 'JOB', route: label, url: label, status: 0, aborted: false,
      job: { ...(system !== undefined ? { system } : {}), ...(queue !== undefined ? { queue } : {}), name, ...(id !== undefined ? { id } : {}), outcome },
    }))
  }

  /** The latest lengths of a queue this process serves, exported with the interval. */
  noteQueueDepth(depth: Parameters<Aggregator['setQueueDepth']>[0]): void {
    this.aggregator.setQueueDepth(depth)
  }

  /**
   * What a request that called out spent inside each layer, added to its
   * endpoint, and the statement shapes it ran too often. True if it has an
   * N+1 pattern.
   */
  private recordInside(record: RequestRecord, stats: CallStats, endMs: number): boolean {
    const clock = record.layers!
    // Calls still in flight count up to the response.
    clock.advance(endMs)
    for (let i = 0; i < LAYERS.length; i++) if (clock.calls[i]! > 0) stats.addLayer(i, clock.calls[i]!, clock.timeMs[i]! / 1000)
    let flagged = false
    const statements = record.statements
    if (statements !== undefined) {
      for (let i = 0; i < statements.length; i++) {
        for (const [statement, runs] of statements[i] ?? []) {
          if (runs < this.nPlusOneThreshold) continue
          stats.flagNPlusOne(`${LAYERS[i]}\t${statement}`)
          flagged = true
        }
      }
    }
    return flagged
  }

  /** A bounded name for a request no route named: never a routed endpoint's slot, never one per URL. */
  private unroutedName(url: string, status: number, req: object, res: ServerResponse | undefined): string {
    if (status === 404) return UNMATCHED_ROUTE
    if (this.routesExpected) return (res !== undefined ? this.answererName(req, res) : undefined) ?? unmatchedClass(status)
    const slot = url.length & (RECENT_URL_SLOTS - 1)
    let name: string | undefined
    if (this.recentUrls[slot] === url) name = this.recentNames[slot]
    else {
      name = this.pathNamesUsed.admit(this.pathNames.nameOf(url))
      this.recentUrls[slot] = url
      this.recentNames[slot] = name
    }
    return name ?? unmatchedClass(status)
  }

  /** `(static files)`: what answered, as the integration says, within its bound. */
  private answererName(req: object, res: ServerResponse): string | undefined {
    for (const namer of this.unroutedNamers) {
      try {
        const answerer = namer(req, res)
        if (answerer !== undefined) return this.answererNamesUsed.admit(`(${answerer})`)
      } catch {
        // a namer never breaks the measurement
      }
    }
    return undefined
  }

  /** Route params where the framework keeps them off `req` (Fastify), for the rare request kept with its URL. */
  private paramsOf(req: object): Record<string, unknown> | undefined {
    return firstAnswer(this.paramsResolvers, req)
  }

  /** The handler's name of a request kept as a trace that none was given while it ran. */
  private handlerNameOf(req: object): string | undefined {
    return firstAnswer(this.handlerNamers, req)
  }

  private lateRoute(req: object): string | undefined {
    return firstAnswer(this.routeResolvers, req)
  }

  /** The interval's per-endpoint aggregate; the next one starts empty. */
  takeInterval(): IntervalSnapshot {
    this.pathNamesUsed.reset()
    this.recentUrls.fill(undefined) // their names are admitted again in the next interval
    this.answererNamesUsed.reset()
    return this.aggregator.drain()
  }

  /** The interval's slow traces and N+1 examples; the next interval starts with none. */
  takeTraces(): TraceRecord[] {
    const traces = this.slowTraces.drain()
    if (this.nPlusOneExamples.size === 0) return traces
    traces.push(...this.nPlusOneExamples.values())
    this.nPlusOneExamples = new Map()
    return traces
  }

  takeErrors(): ErrorGroup[] {
    return this.errors && this.errors.size > 0 ? this.errors.drain() : []
  }
}
