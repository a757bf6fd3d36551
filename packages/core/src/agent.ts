import { readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { ServerResponse } from 'node:http'
import { Aggregator } from './aggregator.js'
import { loadConfig, type AgentConfig, type LoadedConfig } from './config.js'
import { ErrorService } from './error-service.js'
import { processExitHook } from './exit-hook.js'
import { Exporter } from './exporter.js'
import { globalState } from './global-state.js'
import { GuardedFactory, describeError, type ResourceCreators } from './guards.js'
import { HttpInstrumentation, recordOf } from './http-instrumentation.js'
import { Logger } from './logger.js'
import { PathNames, pathOf, paramsFromTemplate } from './endpoint-normalizer.js'
import { encodeLogs, encodeMetrics, encodeTraces, errorLogs, resourceAttributes, type KeyValue, type LogInput } from './otlp-encoder.js'
import { checkPreconditions, type Verdict } from './preconditions.js'
import { newIdentity, type ProcessIdentity } from './process-identity.js'
import { Redactor } from './redact.js'
import { RuntimeSampler } from './runtime-metrics.js'
import { SlowTraceBuffer, type RequestRecord } from './tracer.js'
import { performance } from 'node:perf_hooks'
import type { Server } from 'node:http'
import { ClusterHub } from './cluster-primary.js'
import { WorkerLink } from './cluster-worker.js'
import { ENV_INHERITED_OPTIONS, hasPreload, installForkHook, preloadPath, type ForkHookHandlers } from './fork-hook.js'
import { ENV_PARENT_INSTANCE, ENV_ROLE } from './process-identity.js'

export type AgentState = 'idle' | 'standby' | 'started' | 'stopped'

export interface FrameworkInfo {
  name: string
  version: string
}

export interface AgentOptions extends Partial<AgentConfig> {
  /** Replaces how background resources are created (tests inject failures). */
  creators?: ResourceCreators
  /** Where log lines go; stderr by default. */
  logWrite?: (line: string) => void
}

/** The endpoint for requests no route matched: one, never one per URL. */
export const UNMATCHED_ROUTE = '(unmatched)'
/** How often the first-request start is tried before giving up. */
const FIRST_REQUEST_ATTEMPTS = 3
const ERROR_FLUSH_MS = 5_000
const SLOW_TRACES_PER_INTERVAL = 20
const PROCESS_START_REPORTED = Symbol.for('@agent/core.process-start-reported')

/**
 * The agent of this process. Start, stop and start again are idempotent from
 * every path; nothing here throws into the app.
 */
export class Agent {
  readonly config: AgentConfig
  readonly sources: LoadedConfig['sources']
  readonly logger: Logger
  state: AgentState = 'idle'
  identity: ProcessIdentity
  framework: FrameworkInfo | undefined
  readonly aggregator: Aggregator
  readonly errors: ErrorService | undefined
  readonly exporter: Exporter
  private readonly factory: GuardedFactory
  private readonly runtime = new RuntimeSampler()
  private readonly slow: SlowTraceBuffer
  private readonly redactor: Redactor
  private readonly pathNames = new PathNames()
  private readonly http: HttpInstrumentation
  private readonly ignoreExact: Set<string>
  private readonly ignorePrefixes: string[]
  private timers: NodeJS.Timeout[] = []
  private firstRequestAttempts = 0
  private startScheduled = false
  private exitFlush: Promise<void> | undefined
  private exitFlushed = false
  private resource: KeyValue[] | undefined
  /** Counted requests not yet handed to the exporter. */
  private unflushedRequests = 0
  /** Options given in code, handed to children that get the agent by preload. */
  private readonly codeOptions: Partial<AgentConfig>
  /** Primary: the workers' intervals. */
  private hub: ClusterHub | undefined
  /** Cluster worker: the link to the primary's agent. */
  private link: WorkerLink | undefined
  private handOver: Promise<boolean> | undefined
  /** Children forked by this process (child_process.fork), by pid. */
  readonly children = new Set<number>()

  constructor(options: AgentOptions = {}) {
    const { creators, logWrite, ...configOptions } = options
    this.codeOptions = configOptions
    const loaded = loadConfig({ options: configOptions })
    this.config = loaded.config
    this.sources = loaded.sources
    this.logger = new Logger(this.config.logLevel, logWrite)
    for (const problem of loaded.problems) problem(this.logger)
    this.factory = new GuardedFactory(this.logger, creators)
    this.identity = newIdentity()
    this.aggregator = new Aggregator(this.config.maxEndpoints)
    this.errors = this.config.errorsEnabled ? new ErrorService() : undefined
    this.slow = new SlowTraceBuffer(SLOW_TRACES_PER_INTERVAL)
    this.redactor = new Redactor(this.config.sensitiveKeys, [this.config.keyHeader.toLowerCase()])
    this.ignoreExact = new Set(this.config.ignorePaths.filter((p) => !p.endsWith('*')))
    this.ignorePrefixes = this.config.ignorePaths.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1))
    const ca = readCa(this.config.caFile, this.logger)
    this.exporter = new Exporter({
      endpoint: this.config.endpoint,
      key: this.config.key,
      keyHeader: this.config.keyHeader,
      connectTimeoutMs: this.config.connectTimeoutMs,
      exportTimeoutMs: this.config.exportTimeoutMs,
      maxQueue: this.config.maxQueue,
      maxQueueBytes: this.config.maxQueueBytes,
      compressMinBytes: this.config.compressMinBytes,
      encodeDrops: (drops) => {
        const now = Date.now()
        return Buffer.from(encodeMetrics({ resource: this.resourceAttributes(), interval: { startMs: now, endMs: now, endpoints: [] }, drops }))
      },
      ...(ca ? { ca } : {}),
    }, this.logger)
    this.http = new HttpInstrumentation({
      ignored: (url) => this.ignored(url),
      onStart: (_record, server) => {
        if (this.state === 'standby') this.onFirstRequest()
        if (this.link !== undefined && server !== undefined) this.link.watchServer(server)
      },
      onFinish: (record, res, aborted) => this.finishRequest(record, res, aborted),
    })
  }

  private ignored(url: string): boolean {
    if (this.ignoreExact.size === 0 && this.ignorePrefixes.length === 0) return false
    const path = pathOf(url)
    if (this.ignoreExact.has(path)) return true
    for (const prefix of this.ignorePrefixes) if (path.startsWith(prefix)) return true
    return false
  }

  /**
   * Checks the preconditions and starts, stands by for the first request, or
   * logs (once) why it does neither. Returns the verdict.
   */
  install(frameworkDetected?: string): Verdict {
    const verdict = checkPreconditions({ config: this.config, started: this.state === 'started', role: this.identity.role, ...(frameworkDetected ? { frameworkDetected } : {}) })
    if (verdict.start || verdict.standby) installForkHook(() => (this.state === 'started' || this.state === 'standby' ? this.forkHandlers : undefined))
    if (verdict.start) {
      this.start()
    } else if (verdict.standby) {
      if (this.state !== 'standby') {
        this.state = 'standby'
        this.http.enable()
        this.logger.reportOnce('standby', 'info', 'AGENT_STANDBY', verdict.reason)
      }
    } else if (verdict.reason !== 'already started') {
      this.logger.reportOnce(`not-started:${verdict.reason}`, 'info', 'AGENT_NOT_STARTED', verdict.reason)
    }
    return verdict
  }

  /** Called on every request while standing by, and by the framework middleware. */
  onFirstRequest(): void {
    if (this.state !== 'standby' || this.startScheduled || this.firstRequestAttempts >= FIRST_REQUEST_ATTEMPTS) return
    this.firstRequestAttempts++
    this.startScheduled = true
    // Never delay the request that triggers the start.
    setImmediate(() => {
      this.startScheduled = false
      if (this.state === 'standby') this.start()
    })
  }

  /** Starts background work. Idempotent; never throws. Returns whether it runs. */
  start(): boolean {
    if (this.state === 'started') return true
    try {
      this.http.enable()
      this.runtime.start()
      this.spawn('flush', this.config.flushIntervalMs, () => this.flush())
      if (this.errors) this.spawn('error-service', ERROR_FLUSH_MS, () => this.flushErrors())
      processExitHook().install()
      if (this.identity.role === 'worker' && !this.link) {
        this.link = new WorkerLink({
          instanceId: () => this.identity.instanceId,
          takeInterval: () => {
            const { interval, runtime, requests } = this.takeInterval()
            return { instanceId: this.identity.instanceId, resource: this.resourceAttributes(), interval, runtime, requests }
          },
          onLinked: () => this.logger.debug('cluster primary runs an agent: intervals go to it'),
        })
        this.link.start()
      }
      this.state = 'started'
      this.reportProcessStart()
      this.logger.info(`started for service "${this.config.name}" (${this.identity.role}${this.framework ? `, ${this.framework.name} ${this.framework.version}` : ''}): per-endpoint latency, throughput and errors every ${this.config.flushIntervalMs / 1000} s to ${this.config.endpoint}`)
      return true
    } catch (err) {
      // Guards make this unreachable in practice; if not, the app still runs on.
      this.logger.reportOnce('start-failed', 'error', 'AGENT_TASK_FAILED', 'start', describeError(err))
      return false
    }
  }

  private spawn(name: string, ms: number, task: () => unknown): void {
    const timer = this.factory.interval(name, ms, task)
    if (timer) this.timers.push(timer)
  }

  /** Stops background work; data recorded so far stays for the next flush. Idempotent. */
  stop(): void {
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    this.http.disable()
    this.runtime.stop()
    this.link?.stop()
    this.link = undefined
    processExitHook().uninstall()
    if (this.state !== 'idle') this.state = 'stopped'
  }

  /** Stops, then sends everything recorded within shutdownTimeoutMs. Never rejects. */
  async shutdown(): Promise<boolean> {
    this.stop()
    return this.deliver(Date.now() + this.config.shutdownTimeoutMs)
  }

  private async deliver(deadline: number): Promise<boolean> {
    try {
      // The primary waits for its workers' last intervals, keeping some budget to export them.
      if (this.hub) await this.hub.collectFinal(deadline - Math.min(200, (deadline - Date.now()) / 3))
      this.flush(true)
      this.flushErrors()
      if (this.handOver) await this.handOver
      const delivered = await this.exporter.drain(deadline)
      if (!delivered) this.logger.reportOnce('shutdown-timeout', 'warn', 'AGENT_SHUTDOWN_TIMEOUT', this.config.shutdownTimeoutMs, this.exporter.pendingCount)
      return delivered
    } catch (err) {
      this.logger.reportOnce('shutdown-failed', 'warn', 'AGENT_TASK_FAILED', 'shutdown', describeError(err))
      return false
    }
  }

  /** Requests or errors recorded and not yet handed on. */
  private recordedSinceFlush(): boolean {
    return this.unflushedRequests > 0 || (this.errors?.size ?? 0) > 0
  }

  /**
   * Used by the exit hook: one bounded flush per exit. A later beforeExit
   * flushes again only if the app recorded something new meanwhile, so an
   * unreachable collector can never turn beforeExit into a loop.
   */
  flushForExit(_reason: string): Promise<void> {
    if (this.exitFlush) return this.exitFlush
    const somethingNew = this.recordedSinceFlush() || (this.hub?.size ?? 0) > 0
    if (!somethingNew && (this.exitFlushed || this.exporter.idle)) return Promise.resolve()
    this.exitFlushed = true
    this.exitFlush = this.deliver(Date.now() + this.config.shutdownTimeoutMs).then(() => {
      this.exitFlush = undefined
    })
    return this.exitFlush
  }

  /**
   * The 'exit' event, after `process.exit()` or the end of the loop: where no
   * bounded flush has run for this exit and something is unsent, send it
   * synchronously within shutdownTimeoutMs. Never throws.
   */
  flushAtExit(): void {
    try {
      // A bounded flush that ran to its end already decided this exit; one cut short by process.exit() did not.
      if (this.exitFlushed && this.exitFlush === undefined) return
      if (!this.recordedSinceFlush() && this.exporter.pendingCount === 0) return
      this.exitFlushed = true
      this.link = undefined // IPC cannot be waited for here: export directly
      this.exporter.pause()
      this.flush(true)
      this.flushErrors()
      const sent = this.exporter.sendSync(this.config.shutdownTimeoutMs)
      if (!sent) this.logger.reportOnce('shutdown-timeout', 'warn', 'AGENT_SHUTDOWN_TIMEOUT', this.config.shutdownTimeoutMs, this.exporter.pendingCount)
    } catch {
      // exiting anyway
    }
  }

  resourceAttributes(): KeyValue[] {
    return (this.resource ??= resourceAttributes({ serviceName: this.config.name, identity: this.identity, ...(this.framework ? { framework: this.framework } : {}) }))
  }

  /**
   * Hands this interval on: a linked cluster worker to its primary, anyone
   * else to the exporter, a primary together with its workers' intervals.
   */
  flush(final = false): void {
    if (this.link?.usable) this.handOver = this.link.handOver(final)
    else this.exportInterval(final)
    // Slow traces always go straight to the collector.
    const traces = this.slow.drain()
    if (traces.length > 0) this.exporter.enqueue({ signal: 'traces', body: Buffer.from(encodeTraces(this.resourceAttributes(), traces)), requests: 0 })
  }

  private exportInterval(final: boolean): void {
    const interval = this.aggregator.drain()
    let requests = this.unflushedRequests
    this.unflushedRequests = 0
    const runtime = this.state === 'started' || final ? this.runtime.collect() : undefined
    const workers = this.hub?.drain()
    if (workers) requests += workers.requests
    const lostIntervals = this.hub?.lostIntervals ?? 0
    if (this.hub) this.hub.lostIntervals = 0
    this.exporter.enqueue({
      signal: 'metrics',
      body: Buffer.from(encodeMetrics({
        resource: this.resourceAttributes(), interval, ...(runtime ? { runtime } : {}),
        ...(workers ? { processes: workers.processes } : {}), ...(lostIntervals ? { lostIntervals } : {}),
      })),
      requests,
    })
  }

  /** What the fork hook asks of this agent. */
  private readonly forkHandlers: ForkHookHandlers = {
    childEnv: (role) => ({
      [ENV_PARENT_INSTANCE]: this.identity.instanceId,
      [ENV_ROLE]: role,
      [ENV_INHERITED_OPTIONS]: JSON.stringify(this.codeOptions),
    }),
    // A child gets the preload only where the parent did not get the agent by a flag.
    preload: () => (hasPreload(process.execArgv, preloadPath()) ? undefined : preloadPath()),
    onClusterFork: (worker) => {
      this.becomePrimary()
      this.hub?.register(worker)
    },
    onChildFork: (child) => {
      if (child.pid === undefined) {
        // The app gets its own 'error' event; the agent only notes it (adding a listener would change the app's behaviour).
        this.logger.reportOnce('fork-failed', 'warn', 'AGENT_RESOURCE_FAILED', 'a forked child process for the app', 'the system refused to create it, as at a pids ceiling (EAGAIN); the app gets the error itself')
        return
      }
      const pid = child.pid
      this.children.add(pid)
      child.once('exit', () => this.children.delete(pid))
      this.logger.debug(`forked child pid ${pid}; it reports with role child and this process's instance id`)
    },
  }

  /** The first cluster.fork makes this process the primary: it runs, to aggregate its workers. */
  private becomePrimary(): void {
    if (this.hub) return
    this.hub = new ClusterHub(this.logger, this.config.maxEndpoints)
    this.identity.role = 'primary'
    this.resource = undefined
    if (this.state === 'standby') this.start()
  }

  /** Takes this interval's data without exporting it (for cluster hand-off). */
  takeInterval() {
    const requests = this.unflushedRequests
    this.unflushedRequests = 0
    return { interval: this.aggregator.drain(), runtime: this.runtime.collect(), requests }
  }

  private flushErrors(): void {
    if (!this.errors || this.errors.size === 0) return
    this.sendLogs(errorLogs(this.errors.drain()))
  }

  sendLogs(logs: LogInput[]): void {
    if (logs.length === 0) return
    this.exporter.enqueue({ signal: 'logs', body: Buffer.from(encodeLogs(this.resourceAttributes(), logs)), requests: 0 })
  }

  /** The app-server-load report: once per process. */
  private reportProcessStart(): void {
    const g = globalThis as unknown as Record<symbol, number | undefined>
    if (g[PROCESS_START_REPORTED] === process.pid) return
    g[PROCESS_START_REPORTED] = process.pid
    const id = this.identity
    this.sendLogs([{
      timeMs: id.startTime,
      severity: 'info',
      body: 'process started',
      eventName: 'agent.process.start',
      attributes: {
        'process.pid': id.pid,
        'process.parent_pid': id.ppid,
        'host.name': id.hostname,
        'process.runtime.version': process.versions.node,
        'agent.process.role': id.role,
        'agent.process.start_time_ms': Math.round(performance.timeOrigin),
        ...(this.framework ? { 'agent.framework.name': this.framework.name, 'agent.framework.version': this.framework.version } : {}),
      },
    }])
  }

  /**
   * Integrations that can name a request only after it ran (its app was
   * instrumented late, at that request's end): asked only when nothing named it.
   */
  readonly routeResolvers: Array<(req: object) => string | undefined> = []

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

  /** Marks the error of the request in flight; it is captured once, at its end, with its route. */
  noteError(req: object, error: unknown): void {
    const record = recordOf(req)
    if (record && record.error === undefined) record.error = error
  }

  private finishRequest(record: RequestRecord, res: ServerResponse, aborted: boolean): void {
    const durationMs = performance.now() - record.start
    const status = res.statusCode
    const route = record.route ?? this.lateRoute(res) ?? (status === 404 ? UNMATCHED_ROUTE : this.pathNames.nameOf(record.url))
    // A thrown error the app turned into a 4xx is captured, but the request did not fail.
    const isError = status >= 500
    this.aggregator.record(record.method, route, status, durationMs, isError, aborted)
    this.unflushedRequests++
    const slow = durationMs >= this.config.slowRequestMs
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
      this.slow.add({
        traceId: '', spanId: '', method: record.method, route, url: pathOf(url), status, ...(record.name ? { name: record.name } : {}),
        startEpochMs: record.startEpochMs, durationMs, aborted, spans: record.spans ?? [], droppedSpans: record.droppedSpans,
        ...(error !== undefined ? { error: error instanceof Error ? error.message : String(error) } : {}),
      })
    }
  }
}


/** The CA for an https endpoint; a file that cannot be read is reported and left out. */
function readCa(file: string, logger: Logger): Buffer | undefined {
  if (!file) return undefined
  try {
    return readFileSync(file)
  } catch (err) {
    logger.report('error', 'AGENT_CONFIG_VALUE', 'caFile', JSON.stringify(file), 'the configuration', 'a readable PEM file', `unused (${describeError(err)})`)
    return undefined
  }
}

/** The process's agent, if one was created (by any copy of this package). */
export function getAgent(): Agent | undefined {
  return globalState().agent
}

/**
 * Creates the process's agent on first call (later calls return the same one)
 * and installs it. Never throws.
 */
export interface InstallOptions extends AgentOptions {
  framework?: FrameworkInfo
  /**
   * Whether the framework is loaded now (an app was created), which counts as
   * a server detected. A preload (`register`) knows only that it will be, so
   * the agent stands by for the first request instead.
   */
  frameworkLoaded?: boolean
  /** Names a request the integration could not name while it ran (see `Agent.routeResolvers`). */
  routeResolver?: (req: object) => string | undefined
}

export function install(options: InstallOptions = {}): Agent | undefined {
  try {
    const state = globalState()
    if (state.copies.size > 1 && !state.extra.duplicateWarned && state.agent) {
      state.extra.duplicateWarned = true
      const other = [...state.copies].find((c) => c !== state.owner)!
      // The ESM and CJS builds of one install are the dual-package case, not a second install.
      const sameInstall = dirname(other) === dirname(state.owner)
      state.agent.logger.report(sameInstall ? 'debug' : 'info', 'AGENT_DUPLICATE_COPY', state.owner, other)
    }
    const { framework, frameworkLoaded = true, routeResolver, ...rest } = options
    const agent = (state.agent ??= new Agent(rest))
    if (framework && !agent.framework) agent.framework = framework
    if (routeResolver && !agent.routeResolvers.includes(routeResolver)) agent.routeResolvers.push(routeResolver)
    agent.install(framework && frameworkLoaded ? framework.name : undefined)
    return agent
  } catch (err) {
    try {
      process.stderr.write(`[agent] error: AGENT_TASK_FAILED: install failed (${describeError(err)}); the app runs on without monitoring.\n`)
    } catch {}
    return undefined
  }
}
