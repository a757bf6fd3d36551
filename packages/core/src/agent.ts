import type { ChildProcess } from 'node:child_process'
import type { Worker } from 'node:cluster'
import type { Server } from 'node:http'
import { requestsIn } from './aggregator.js'
import { ClusterHub } from './cluster-hub.js'
import { loadConfig, withoutCredentials, type AgentConfig } from './config.js'
import { CumulativeTotals } from './cumulative-totals.js'
import { processExitHook, type ExitFlushes } from './exit-hook.js'
import { Exporter, readCa, type ExporterOptions } from './exporter.js'
import { ENV_INHERITED_OPTIONS, hasPreload, installForkHook, preloadPath, type ForkObserver } from './fork-hook.js'
import type { FrameworkInfo } from './framework-info.js'
import { GuardedFactory, describeError, type ResourceCreators } from './guards.js'
import { HttpInstrumentation, type RequestStartObserver } from './http-instrumentation.js'
import { clientInstrumentations } from './client-instrumentations.js'
import { Logger } from './logger.js'
import { Once } from './once.js'
import { MetricsEncoding, errorLogs, logsBody, metricsBody, tracesBody, processStartLog, resourceAttributes, type KeyValue, type LogInput } from './otlp-encoder.js'
import { checkPreconditions, type Verdict } from './preconditions.js'
import { ENV_PARENT_INSTANCE, ENV_ROLE, newIdentity, type ProcessIdentity } from './process-identity.js'
import { RequestRecorder } from './request-recorder.js'
import { RuntimeSampler } from './runtime-metrics.js'
import { SlicedReports, type PendingReport } from './sliced-reports.js'
import { kProcessStartReported } from './symbols.js'
import { WorkerLink, type IntervalOwner, type UnacknowledgedHandOver, type WorkerInterval } from './worker-link.js'

export type AgentState = 'idle' | 'standby' | 'started' | 'stopped'

export interface AgentOptions extends Partial<AgentConfig> {
  /** Replaces how background resources are created (tests inject failures). */
  creators?: ResourceCreators
  /** Where log lines go; stderr by default. */
  logWrite?: (line: string) => void
}

/** How often the first-request start is tried before giving up. */
const FIRST_REQUEST_ATTEMPTS = 3
const ERROR_FLUSH_MS = 5_000
/**
 * A cluster primary waits for its workers' last intervals until this long
 * before its own deadline (at most a third of what is left), keeping the rest
 * to export them: one POST to a collector that answers, gzip included.
 */
const EXPORT_RESERVE_MS = 200
/** How often a linked cluster worker hands its data to the primary. */
const HAND_OVER_MS = 1000

/**
 * The agent of this process: wiring, lifecycle, the exit paths and the
 * cluster role. What happens at a request's end is the `RequestRecorder`'s;
 * how payloads travel is the `Exporter`'s. Start, stop and start again are
 * idempotent from every path; nothing here throws into the app.
 */
export class Agent implements ExitFlushes, ForkObserver, IntervalOwner, RequestStartObserver {
  config: AgentConfig
  readonly logger: Logger
  state: AgentState = 'idle'
  readonly identity: ProcessIdentity
  framework: FrameworkInfo | undefined
  readonly recorder: RequestRecorder
  readonly exporter: Exporter
  private readonly factory: GuardedFactory
  private readonly runtime = new RuntimeSampler()
  private readonly http: HttpInstrumentation
  /** Calls out of the process on behalf of requests: outbound HTTP, databases. */
  private readonly clients = clientInstrumentations()
  private timers: NodeJS.Timeout[] = []
  private firstRequestAttempts = 0
  private startScheduled = false
  /** Metrics reports being encoded a slice per turn of the event loop. */
  private readonly reports: SlicedReports
  /** Totals since start, made at the first interval that goes out cumulative. */
  private cumulative: CumulativeTotals | undefined
  /** One bounded delivery per exit; reset when the app records more, and by `start()`. */
  private readonly exitDelivery = new Once<void>()
  private readonly shutdownOnce = new Once<boolean>()
  private resource: KeyValue[] | undefined
  /** Options given in code, handed to children that get the agent by preload. */
  private codeOptions: Partial<AgentConfig>
  /**
   * Activated by a preload before its configuration was complete: some process
   * managers (PM2) give the app its environment only after preloads ran, so
   * the configuration is read again when the first request starts the agent.
   */
  private configDeferred = false
  /** Primary: the workers' intervals. */
  private hub: ClusterHub | undefined
  /** Cluster worker: the link to the primary's agent. */
  private link: WorkerLink | undefined
  /** The last hand-over to the primary, written or not. */
  private handOver: Promise<boolean> | undefined

  constructor(options: AgentOptions = {}) {
    const { creators, logWrite, ...configOptions } = options
    this.codeOptions = configOptions
    const loaded = loadConfig({ options: configOptions })
    this.config = loaded.config
    this.logger = new Logger(this.config.logLevel, logWrite)
    for (const problem of loaded.problems) problem(this.logger)
    this.factory = new GuardedFactory(this.logger, creators)
    this.identity = newIdentity()
    this.recorder = new RequestRecorder(this.config)
    this.exporter = new Exporter(this.exporterOptions(), this.logger)
    this.reports = new SlicedReports(this.exporter, this.logger)
    this.http = new HttpInstrumentation(this.recorder, this)
  }

  private exporterOptions(): ExporterOptions {
    const ca = readCa(this.config.caFile, this.logger)
    return {
      ...this.config,
      payloadIdPrefix: this.identity.instanceId,
      encodeDrops: (drops) => {
        const now = Date.now()
        return metricsBody({ resource: this.resourceAttributes(), interval: { startMs: now, endMs: now, endpoints: [] }, drops }, this.config.protocol)
      },
      ...(ca ? { ca } : {}),
    }
  }

  /** Reads the configuration again (code options on top) and hands it to every part. */
  private reloadConfig(): void {
    const loaded = loadConfig({ options: this.codeOptions })
    this.config = loaded.config
    this.logger.level = this.config.logLevel
    for (const problem of loaded.problems) problem(this.logger)
    this.recorder.configure(this.config)
    this.exporter.configure(this.exporterOptions())
    this.resource = undefined
  }

  /**
   * Options given in code after the agent was made (a register flag made it
   * first): applied while it has not started; once started, the keys that
   * would change are named, once.
   */
  applyCodeOptions(options: Partial<AgentConfig>): void {
    const changed = (Object.keys(options) as (keyof AgentConfig)[]).filter((k) => options[k] !== undefined && JSON.stringify(options[k]) !== JSON.stringify(this.config[k]))
    if (changed.length === 0) return
    this.codeOptions = { ...this.codeOptions, ...options }
    if (this.state === 'started') {
      this.logger.reportOnce(`late-options:${changed.join(',')}`, 'warn', 'AGENT_OPTIONS_TOO_LATE', changed)
      return
    }
    this.reloadConfig()
  }

  /**
   * Checks the preconditions and starts, stands by for the first request, or
   * logs (once) why it does neither. Returns the verdict.
   */
  activate(frameworkDetected?: string, preload = false): Verdict {
    const verdict = checkPreconditions({ config: this.config, started: this.state === 'started', role: this.identity.role, ...(frameworkDetected ? { frameworkDetected } : {}) })
    if (preload && !verdict.start && verdict.misconfigured && this.state === 'idle') {
      this.configDeferred = true
      this.state = 'standby'
      this.http.enable()
      this.enableStandbyClients()
      this.logger.debug(`configuration incomplete at preload (${verdict.reason}); read again at the first request`)
      return verdict
    }
    if (verdict.start || verdict.standby) installForkHook(this)
    if (verdict.start) {
      this.start()
    } else if (verdict.standby) {
      if (this.state !== 'standby') {
        this.state = 'standby'
        this.http.enable()
        this.enableStandbyClients()
        this.logger.reportOnce('standby', 'info', 'AGENT_STANDBY', verdict.reason)
      }
    } else if (verdict.reason !== 'already started') {
      this.reportNotStarted(verdict)
    }
    return verdict
  }

  /** What can start an agent standing by besides a request (a job framework's worker): watched from standby on. */
  private enableStandbyClients(): void {
    for (const client of this.clients) if (client.enableInStandby) client.enable()
  }

  private reportNotStarted(verdict: Extract<Verdict, { start: false }>): void {
    // A setting that is missing or wrong is a warning: with logLevel warn the app must not run unmonitored silently.
    this.logger.reportOnce(`not-started:${verdict.reason}`, verdict.misconfigured ? 'warn' : 'info', 'AGENT_NOT_STARTED', verdict.reason)
  }

  /** Every request's start, from the HTTP instrumentation. */
  onRequestStart(server: Server | undefined): void {
    if (this.state === 'standby') this.onFirstRequest()
    if (this.link !== undefined && server !== undefined) this.link.watchServer(server)
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
      if (this.configDeferred && !this.startDeferred()) return false
      this.exitDelivery.reset()
      this.shutdownOnce.reset()
      this.http.enable()
      for (const client of this.clients) client.enable()
      this.runtime.start()
      this.spawn('flush', this.config.flushIntervalMs, () => this.handOnInterval(false))
      if (this.recorder.errors) this.spawn('error-service', ERROR_FLUSH_MS, () => this.handOnErrors())
      processExitHook().install(this)
      if (this.identity.role === 'worker' && !this.link) {
        this.link = new WorkerLink(this.identity.instanceId, this, this.logger)
        this.link.start()
        // Handed over about every second, so a worker killed outright loses about a second at most.
        this.spawn('hand-over', Math.min(HAND_OVER_MS, this.config.flushIntervalMs), () => this.handOverToPrimary())
      }
      this.state = 'started'
      this.reportProcessStart()
      this.logger.info(`started for service "${this.config.name}" (${this.identity.role}${this.framework ? `, ${this.framework.name} ${this.framework.version}` : ''}): per-endpoint latency, throughput and errors every ${this.config.flushIntervalMs / 1000} s to ${withoutCredentials(this.config.endpoint)}`)
      return true
    } catch (err) {
      // Guards make this unreachable in practice; if not, the app still runs on.
      this.logger.reportOnce('start-failed', 'error', 'AGENT_TASK_FAILED', 'start', describeError(err))
      return false
    }
  }

  /** The deferred configuration, read now; false (logged) when the agent still cannot run. */
  private startDeferred(): boolean {
    this.configDeferred = false
    this.reloadConfig()
    const verdict = checkPreconditions({ config: this.config, started: false, role: this.identity.role })
    // No server detected would be wrong here: a request is what starts it.
    if (verdict.start || verdict.standby) {
      installForkHook(this)
      return true
    }
    this.http.disable()
    this.state = 'idle'
    this.reportNotStarted(verdict)
    return false
  }

  private spawn(name: string, ms: number, task: () => unknown): void {
    const timer = this.factory.interval(name, ms, task)
    if (timer) this.timers.push(timer)
  }

  /** Stops background work; data recorded so far stays for the next delivery. Idempotent. */
  stop(): void {
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    this.http.disable()
    for (const client of this.clients) client.disable()
    this.runtime.stop()
    this.link?.stop()
    this.link = undefined
    processExitHook().uninstall()
    if (this.state !== 'idle') this.state = 'stopped'
  }

  /** Stops, then delivers everything recorded within shutdownTimeoutMs. Once until the next start; never rejects. */
  shutdown(): Promise<boolean> {
    return this.shutdownOnce.call(() => {
      this.stop()
      return this.deliverUntil(Date.now() + this.config.shutdownTimeoutMs)
    })
  }

  /** Hands on everything recorded and waits, until `deadline` at most, for the exporter to deliver it. */
  private async deliverUntil(deadline: number): Promise<boolean> {
    try {
      if (this.hub) await this.hub.collectFinal(deadline - Math.min(EXPORT_RESERVE_MS, (deadline - Date.now()) / 3))
      this.reports.finishAll()
      this.handOnInterval(true)
      this.handOnErrors()
      if (this.handOver) await this.handOver
      const delivered = await this.exporter.deliverUntil(deadline)
      if (!delivered) this.logger.reportOnce('shutdown-timeout', 'warn', 'AGENT_SHUTDOWN_TIMEOUT', this.config.shutdownTimeoutMs, this.exporter.pendingCount, this.exporter.lastFailure)
      return delivered
    } catch (err) {
      this.logger.reportOnce('shutdown-failed', 'warn', 'AGENT_TASK_FAILED', 'shutdown', describeError(err))
      return false
    }
  }

  /**
   * `beforeExit` and signals (from the exit hook): one bounded delivery per
   * exit. A later `beforeExit` delivers again only if the app recorded
   * something new meanwhile, so an unreachable collector can never turn
   * `beforeExit` into a loop.
   */
  deliverBeforeExit(): Promise<void> {
    const somethingNew = this.recorder.hasUnsent || this.reports.size > 0 || (this.hub?.size ?? 0) > 0
    if (this.exitDelivery.settled && somethingNew) this.exitDelivery.reset()
    if (!this.exitDelivery.called && !somethingNew && this.exporter.idle) return Promise.resolve()
    return this.exitDelivery.call(async () => {
      await this.deliverUntil(Date.now() + this.config.shutdownTimeoutMs)
    })
  }

  /**
   * The 'exit' event, after `process.exit()` or the end of the loop: where no
   * bounded delivery ran to its end for this exit and something is unsent,
   * send it synchronously within shutdownTimeoutMs. Never throws.
   */
  sendUnsentAtExit(): void {
    try {
      // A delivery that ran to its end already decided this exit; one cut short by process.exit() did not.
      if (this.exitDelivery.settled) return
      // What the primary never acknowledged, if it died: this worker delivers it itself.
      const orphans = this.link?.takeUnacknowledged(true) ?? []
      if (!this.recorder.hasUnsent && this.exporter.pendingCount === 0 && orphans.length === 0 && this.reports.size === 0) return
      this.link = undefined // IPC cannot be waited for here: export directly
      this.exporter.pause()
      this.reports.finishAll()
      this.exportInterval(true, orphans)
      this.handOnTraces()
      this.handOnErrors()
      const sent = this.exporter.sendAtExit(this.config.shutdownTimeoutMs)
      if (!sent) this.logger.reportOnce('shutdown-timeout', 'warn', 'AGENT_SHUTDOWN_TIMEOUT', this.config.shutdownTimeoutMs, this.exporter.pendingCount, this.exporter.lastFailure)
    } catch {
      // exiting anyway
    }
  }

  /**
   * The platform under the framework, learnt late (Nest knows it on its first
   * request): reported from the next payload on. Once.
   */
  noteFrameworkPlatform(platform: { name: string; version: string }): void {
    if (!this.framework || this.framework.platform) return
    this.framework = { ...this.framework, platform }
    this.resource = undefined
  }

  resourceAttributes(): KeyValue[] {
    return (this.resource ??= resourceAttributes({ serviceName: this.config.name, identity: this.identity, extra: this.config.resourceAttributes, ...(this.framework ? { framework: this.framework } : {}) }))
  }

  /**
   * Hands this interval on: a linked cluster worker to its primary, anyone
   * else to the exporter (a primary together with its workers' intervals).
   * Slow traces always go straight to the exporter.
   */
  handOnInterval(final: boolean): void {
    if (this.link?.usable) this.handOver = this.link.handOver(final, this.takeWorkerInterval(true))
    else this.exportInterval(final)
    this.handOnTraces()
  }

  private handOnTraces(): void {
    const traces = this.recorder.takeTraces()
    if (traces.length > 0) this.exporter.enqueue({ signal: 'traces', body: tracesBody(this.resourceAttributes(), traces, this.config.protocol), requests: 0 })
  }

  /** The hand-over between report intervals: a linked worker's requests so far, without runtime metrics. */
  private handOverToPrimary(): void {
    // Even an empty one: the primary learns the worker was alive, which bounds what its death loses.
    if (this.link?.usable) this.handOver = this.link.handOver(false, this.takeWorkerInterval(false))
  }

  /** Exports this interval; `orphans`: what a worker whose primary died handed over and was never acknowledged. */
  private exportInterval(final: boolean, orphans: UnacknowledgedHandOver[] = this.link?.takeUnacknowledged(false) ?? []): void {
    let interval = this.recorder.takeInterval()
    const runtime = this.state === 'started' || final ? this.runtime.collect() : undefined
    const workers = this.hub?.drain()
    // Counted by what the interval adds, whichever temporality goes out.
    let requests = requestsIn(interval)
    for (const worker of workers?.processes ?? []) requests += requestsIn(worker.interval)
    for (const orphan of orphans) requests += requestsIn(orphan.interval)
    if (this.config.temporality === 'cumulative') {
      const totals = (this.cumulative ??= new CumulativeTotals(this.config.maxEndpoints))
      interval = totals.add(this.identity.instanceId, interval)
      for (const worker of workers?.processes ?? []) worker.interval = totals.add(instanceIdOf(worker.resource), worker.interval)
    }
    const hub = this.hub
    const marks = workers?.marks
    const encoding = new MetricsEncoding({
      resource: this.resourceAttributes(), interval, ...(runtime ? { runtime } : {}), temporality: this.config.temporality,
      ...(workers ? { processes: workers.processes, lost: workers.lost } : {}), ...(orphans.length > 0 ? { orphans } : {}),
    }, this.config.protocol)
    const report: PendingReport = {
      encoding,
      requests,
      // Delivered or dropped and counted: either way the workers may forget what it holds.
      ...(hub && marks && marks.length > 0 ? { settled: () => hub.acknowledge(marks) } : {}),
    }
    // The periodic report is encoded a slice per turn of the event loop; a last one at once.
    if (final) this.reports.now(report)
    else this.reports.inSlices(report)
  }

  /** A cluster worker's data, taken for the primary; runtime metrics only at the report interval. */
  private takeWorkerInterval(withRuntime: boolean): WorkerInterval {
    return { instanceId: this.identity.instanceId, resource: this.resourceAttributes(), interval: this.recorder.takeInterval(), ...(withRuntime ? { runtime: this.runtime.collect() } : {}) }
  }

  private handOnErrors(): void {
    this.sendLogs(errorLogs(this.recorder.takeErrors()))
  }

  sendLogs(logs: LogInput[]): void {
    if (logs.length === 0) return
    this.exporter.enqueue({ signal: 'logs', body: logsBody(this.resourceAttributes(), logs, this.config.protocol), requests: 0 })
  }

  /** The app-server-load report: once per process, whichever agent starts first. */
  private reportProcessStart(): void {
    const g = globalThis as unknown as Record<symbol, boolean | undefined>
    if (g[kProcessStartReported]) return
    g[kProcessStartReported] = true
    this.sendLogs([processStartLog(this.identity, this.framework)])
  }

  // The fork hook's questions (ForkObserver).

  get observesForks(): boolean {
    return this.state === 'started' || this.state === 'standby'
  }

  childEnv(role: 'worker' | 'child'): Record<string, string> {
    return {
      [ENV_PARENT_INSTANCE]: this.identity.instanceId,
      [ENV_ROLE]: role,
      [ENV_INHERITED_OPTIONS]: JSON.stringify(this.codeOptions),
    }
  }

  /** A child gets the preload only where the parent did not get the agent by a flag. */
  preload(): string | undefined {
    // A preload in NODE_OPTIONS reaches the child through its environment already.
    const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)]
    return hasPreload(flags, preloadPath()) ? undefined : preloadPath()
  }

  /** The first cluster.fork makes this process the primary: it runs, to aggregate its workers. */
  onClusterFork(worker: Worker): void {
    if (!this.hub) {
      this.hub = new ClusterHub(this.logger, this.config.maxEndpoints)
      this.identity.role = 'primary'
      this.resource = undefined
      if (this.state === 'standby') this.start()
    }
    this.hub.register(worker)
  }

  onChildFork(child: ChildProcess): void {
    if (child.pid === undefined) {
      // The app gets its own 'error' event; the agent only notes it (adding a listener would change the app's behaviour).
      this.logger.reportOnce('fork-failed', 'warn', 'AGENT_RESOURCE_FAILED', 'a forked child process for the app', 'the system refused to create it, as at a pids ceiling (EAGAIN); the app gets the error itself')
      return
    }
    this.logger.debug(`forked child pid ${child.pid}; it reports with role child and this process's instance id`)
  }
}

/** A resource's `service.instance.id`: which process a worker's interval belongs to. */
function instanceIdOf(resource: KeyValue[]): string {
  const value = resource.find((a) => a.key === 'service.instance.id')?.value
  return value && 'stringValue' in value ? value.stringValue : ''
}

