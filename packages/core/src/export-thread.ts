import type { Worker } from 'node:worker_threads'
import type { GuardedFactory } from './guards.js'
import { send as sendHere, SendError, type FailureKind, type PendingSend, type SendOptions, type SendResult } from './http-transport.js'

/** A send handed to the export thread. */
export type ToExportThread =
  | { type: 'send'; id: number; url: string; body: Uint8Array; options: SendOptions }
  | { type: 'abort'; id: number }

/** What became of it. */
export type FromExportThread =
  | { type: 'answered'; id: number; result: SendResult }
  | { type: 'failed'; id: number; kind: FailureKind; message: string; code?: string }

/** The shape of `send` in http-transport.ts, which the exporter calls. */
export type Send = (url: URL, body: Buffer, options: SendOptions, startRef?: boolean) => PendingSend

/** Beyond a send's own total deadline, how long the thread may stay silent about it before it is given up here. */
const SILENCE_MS = 2000

interface Waiting {
  resolve(result: SendResult): void
  reject(err: SendError): void
  referenced: boolean
  timer: NodeJS.Timeout
}

/**
 * The exporter's sends, made on a worker thread of the agent's own. A socket
 * in the app's thread runs Node's stream code (`Readable.on`, `Readable.read`,
 * `Writable.write`, `process.nextTick`) with objects of shapes the app's
 * server never shows it, and V8's caches there stay wider from the first
 * export on: measured with callgrind, every later Fastify request cost about
 * 1k instructions more, and the figure moved from run to run with the
 * export's timing. Here the app's thread only posts the payload's bytes.
 *
 * The thread is made at the first send, through the guarded factory, and is
 * unref'd: it never keeps the app alive, except while a send it carries is
 * referenced (the final delivery). Where it cannot be made, or once it is
 * lost (an error, an exit, silence past a send's deadline), sends run on this
 * thread as before (http-transport.ts), and a send it held fails as a network
 * error, which the exporter retries. Costs about 10 MB of RSS (BENCHMARKS.md);
 * `exportThread: false` keeps every send on the app's thread.
 */
export class ExportThread {
  private worker: Worker | undefined
  private lost = false
  private readonly waiting = new Map<number, Waiting>()
  private nextId = 0

  constructor(private readonly factory: GuardedFactory) {}

  readonly send: Send = (url, body, options, startRef = false) => {
    const worker = this.ensure()
    if (worker === undefined) return sendHere(url, body, options, startRef)
    const id = ++this.nextId
    let entry: Waiting | undefined
    const done = new Promise<SendResult>((resolve, reject) => {
      const timer = setTimeout(() => this.lose(`silent past a send's ${options.totalTimeoutMs} ms deadline`), options.totalTimeoutMs + SILENCE_MS)
      if (!startRef) timer.unref()
      entry = { resolve, reject, referenced: startRef, timer }
      this.waiting.set(id, entry)
    })
    this.refreshRef()
    // Only the payload's own bytes: a Buffer that is a view would have its whole backing store cloned.
    const bytes = body.byteLength === body.buffer.byteLength ? body : new Uint8Array(body)
    try {
      // A CA as text: it arrives equal (a Buffer would arrive as a new copy each time), so kept-alive connections match it.
      const sent = options.ca !== undefined && typeof options.ca !== 'string' ? { ...options, ca: options.ca.toString('latin1') } : options
      worker.postMessage({ type: 'send', id, url: url.href, body: bytes, options: sent } satisfies ToExportThread)
    } catch (err) {
      this.settle(id, (w) => w.reject(new SendError('network', `could not hand the payload to the export thread: ${(err as Error).message}`)))
    }
    return {
      done,
      ref: () => {
        if (entry === undefined || entry.referenced || !this.waiting.has(id)) return
        entry.referenced = true
        entry.timer.ref()
        this.refreshRef()
      },
      abort: () => {
        if (!this.waiting.has(id)) return
        this.worker?.postMessage({ type: 'abort', id } satisfies ToExportThread)
        this.settle(id, (w) => w.reject(new SendError('aborted', 'aborted at the shutdown deadline')))
      },
    }
  }

  /** Ends the thread; sends it held fail (and are retried on this thread). Idempotent. */
  destroy(): void {
    const worker = this.worker
    this.lose('stopped')
    if (worker === undefined) return
    // Stopped on purpose: not a loss to report.
    worker.removeAllListeners('exit')
    worker.removeAllListeners('error')
    worker.on('error', () => {})
    void worker.terminate()
  }

  private ensure(): Worker | undefined {
    if (this.lost) return undefined
    if (this.worker !== undefined) return this.worker
    // The thread's file sits beside this one's, in the same format. From the sources (the tests, run with
    // a TypeScript loader that a worker does not get) it is the built one, which the tests build first.
    const here = import.meta.url
    const ext = /\.(c?js|ts)$/.exec(here)?.[1] ?? 'js'
    const file = ext === 'ts' ? new URL('../dist/export-thread-worker.js', here) : new URL(`./export-thread-worker.${ext}`, here)
    this.worker = this.factory.worker('export', file, {
      // None of the app's flags: a preload there would load the agent only to stand by.
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 4 },
      stdout: false,
      stderr: false,
    }, (why) => this.lose(why))
    this.worker?.on('message', (message: FromExportThread) => this.onMessage(message))
    return this.worker
  }

  private onMessage(message: FromExportThread): void {
    if (message.type === 'answered') this.settle(message.id, (w) => w.resolve(message.result))
    else this.settle(message.id, (w) => w.reject(new SendError(message.kind, message.message, message.code)))
  }

  private settle(id: number, how: (w: Waiting) => void): void {
    const w = this.waiting.get(id)
    if (w === undefined) return
    this.waiting.delete(id)
    clearTimeout(w.timer)
    how(w)
    this.refreshRef()
  }

  /** The thread keeps the process alive only while a referenced send is in it. */
  private refreshRef(): void {
    let referenced = false
    for (const w of this.waiting.values()) referenced ||= w.referenced
    if (referenced) this.worker?.ref()
    else this.worker?.unref()
  }

  private lose(why: string): void {
    if (this.lost) return
    this.lost = true
    for (const id of [...this.waiting.keys()]) this.settle(id, (w) => w.reject(new SendError('network', `the export thread was lost (${why}); sent again from the app's thread`)))
    const worker = this.worker
    this.worker = undefined
    if (worker !== undefined && why !== 'stopped') void worker.terminate().catch(() => {})
  }
}
