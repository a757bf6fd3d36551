// The main thread's side of ingest: a bound on reports in progress (reading included) and the
// worker that stores them. When the bound is reached the server answers 429 with Retry-After,
// which agents honour, instead of holding more reports in memory.
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker, type WorkerOptions } from 'node:worker_threads'
import type { IngestReply, IngestRequest, IngestWorkerData, Signal } from './ingest-protocol.js'

export interface IngestQueueOptions extends IngestWorkerData {
  /** Reports accepted but not yet stored, reading included. */
  maxPendingReports: number
  /** Where the worker's own failures (a retention pass) are said. */
  log: (line: string) => void
}

// In the package the worker is the built .js beside this module. Under tsx (tests, `pnpm start`)
// it is the .ts file, and Node 20 does not run `--import tsx` in workers: it registers tsx first.
const fromSource = import.meta.url.endsWith('.ts')

/** tsx's ESM API, found through its package.json (no import.meta.resolve: this module is built for require() too). */
function tsxEsmApi(): string {
  const require = createRequire(import.meta.url)
  const manifest = require.resolve('tsx/package.json')
  const entry = (require('tsx/package.json') as { exports: Record<string, { import: { default: string } }> }).exports['./esm/api']!.import.default
  return pathToFileURL(join(dirname(manifest), entry)).href
}
const workerFile = new URL(fromSource ? './ingest-worker.ts' : './ingest-worker.js', import.meta.url)
const newWorker = (options: WorkerOptions) => fromSource
  ? new Worker(`import(${JSON.stringify(tsxEsmApi())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(workerFile.href)}) })`, { ...options, eval: true })
  : new Worker(workerFile, options)

export class IngestQueue {
  private worker: Worker | undefined
  private readonly waiting = new Map<number, (reply: IngestReply) => void>()
  private nextId = 0
  private pendingReports = 0
  /** Recent time to store one report (ms), for Retry-After. */
  private storeMs = 50

  constructor(private readonly options: IngestQueueOptions) {
    this.worker = this.spawn()
  }

  get pending(): number {
    return this.pendingReports
  }

  /** Takes a slot for a report, or false when the bound is reached. */
  tryAcquire(): boolean {
    if (this.pendingReports >= this.options.maxPendingReports) return false
    this.pendingReports++
    return true
  }

  release(): void {
    this.pendingReports--
  }

  /** Seconds until the reports ahead are likely stored: at least 1, at most 60. */
  retryAfterSeconds(): number {
    return Math.min(60, Math.max(1, Math.ceil((this.pendingReports * this.storeMs) / 1000)))
  }

  store(signal: Signal, body: Buffer, gzip: boolean, payloadId?: string, protobuf = false): Promise<IngestReply> {
    const worker = (this.worker ??= this.spawn())
    const id = this.nextId++
    // Copy into a buffer of its own so it can be transferred (request chunks share Node's pool).
    const own = new Uint8Array(body.length)
    own.set(body)
    // Idle, the worker keeps no process alive; with a report in it, it does until the answer.
    worker.ref()
    return new Promise((resolve) => {
      this.waiting.set(id, resolve)
      worker.postMessage({ id, signal, body: own, gzip, protobuf, ...(payloadId ? { payloadId } : {}) } satisfies IngestRequest, [own.buffer])
    })
  }

  async close(): Promise<void> {
    const worker = this.worker
    this.worker = undefined
    if (!worker) return
    const exited = new Promise((r) => worker.once('exit', r))
    worker.ref()
    worker.postMessage({ close: true })
    await exited
  }

  private spawn(): Worker {
    const { maxPendingReports: _bound, log: _log, ...data } = this.options
    const worker = newWorker({ workerData: data satisfies IngestWorkerData })
    worker.unref()
    worker.on('message', (reply: IngestReply) => {
      if (reply.id === -1) return this.options.log(`collector: ${reply.error}`)
      if (reply.ms !== undefined) this.storeMs = 0.8 * this.storeMs + 0.2 * reply.ms
      this.waiting.get(reply.id)?.(reply)
      this.waiting.delete(reply.id)
      if (this.waiting.size === 0) worker.unref()
    })
    const fail = (why: string) => {
      if (this.worker === worker) this.worker = undefined // the next report starts a new one
      for (const resolve of this.waiting.values()) resolve({ id: -1, status: 503, error: `the storage worker stopped (${why}); retry, and check the collector's log and disk` })
      this.waiting.clear()
    }
    worker.on('error', (err) => {
      this.options.log(`collector: the storage worker failed: ${err.message}`)
      fail(err.message)
    })
    worker.on('exit', (code) => fail(`exit code ${code}`))
    return worker
  }
}
