import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import dc from 'node:diagnostics_channel'
import { Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import { ExportThread } from '../src/export-thread.ts'
import { defaultCreators, GuardedFactory } from '../src/guards.ts'
import { SendError, type SendOptions } from '../src/http-transport.ts'
import { Logger } from '../src/logger.ts'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'

const options: SendOptions = { connectTimeoutMs: 1000, totalTimeoutMs: 3000, headers: { 'content-type': 'application/json' } }
const body = (n: number) => Buffer.from(JSON.stringify({ resourceMetrics: [], n }))

/** An export thread whose Worker the test can reach; `lines`: what the agent logged. */
function thread(createWorker = defaultCreators.createWorker) {
  const lines: string[] = []
  const workers: Worker[] = []
  const factory = new GuardedFactory(new Logger('info', (l) => lines.push(l)), {
    ...defaultCreators,
    createWorker: (file, opts) => {
      const w = createWorker(file, opts)
      workers.push(w)
      return w
    },
  })
  return { exportThread: new ExportThread(factory), lines, workers }
}

/** Connections this thread opens, seen on Node's `net.client.socket` channel (per thread). */
function socketsOpenedHere() {
  const seen: unknown[] = []
  const listener = (m: unknown) => seen.push(m)
  dc.subscribe('net.client.socket', listener)
  return { seen, stop: () => dc.unsubscribe('net.client.socket', listener) }
}

test('a send is made on the export thread: no socket on the app\'s thread, the answer comes back', async () => {
  const sink = await OtlpSink.start()
  const { exportThread, workers } = thread()
  const sockets = socketsOpenedHere()
  try {
    const result = await exportThread.send(new URL(`${sink.url}/v1/metrics`), body(1), options, true).done
    assert.equal(result.status, 200)
    assert.equal(sink.received.length, 1)
    assert.equal(sink.received[0]!.body.n, 1)
    assert.equal(workers.length, 1, 'one thread, made at the first send')
    assert.equal(sockets.seen.length, 0, 'no connection from this thread')
    // A second send: the same thread (and its kept-alive connection).
    assert.equal((await exportThread.send(new URL(`${sink.url}/v1/metrics`), body(2), options, true).done).status, 200)
    assert.equal(workers.length, 1)
  } finally {
    sockets.stop()
    exportThread.destroy()
    await sink.close()
  }
})

test("a failure in the thread comes back as the same SendError the app's thread would make", async () => {
  const sink = await OtlpSink.start({ mode: 'garbage' })
  const { exportThread } = thread()
  try {
    await assert.rejects(exportThread.send(new URL(`${sink.url}/v1/metrics`), body(1), options, true).done, (err: unknown) => err instanceof SendError && err.kind === 'network' && err.code === 'HPE_INVALID')
  } finally {
    exportThread.destroy()
    await sink.close()
  }
})

test("a thread that cannot be made: sends run on the app's thread, logged once", async () => {
  const sink = await OtlpSink.start()
  const { exportThread, lines } = thread(() => {
    throw Object.assign(new Error('Resource temporarily unavailable'), { code: 'ERR_WORKER_INIT_FAILED' })
  })
  const sockets = socketsOpenedHere()
  try {
    assert.equal((await exportThread.send(new URL(`${sink.url}/v1/metrics`), body(1), options, true).done).status, 200)
    assert.equal((await exportThread.send(new URL(`${sink.url}/v1/metrics`), body(2), options, true).done).status, 200)
    assert.equal(sink.received.length, 2)
    assert.ok(sockets.seen.length >= 1, 'sent from this thread')
    assert.equal(lines.filter((l) => l.includes('AGENT_RESOURCE_FAILED') && l.includes('ERR_WORKER_INIT_FAILED')).length, 1, lines.join(''))
  } finally {
    sockets.stop()
    exportThread.destroy()
    await sink.close()
  }
})

test("a thread lost mid-send: that send fails (the exporter retries it), later sends run on the app's thread", async () => {
  const blackhole = await OtlpSink.start({ mode: 'blackhole' })
  const sink = await OtlpSink.start()
  const { exportThread, workers, lines } = thread()
  try {
    const pending = exportThread.send(new URL(`${blackhole.url}/v1/metrics`), body(1), { ...options, totalTimeoutMs: 60_000 }, true)
    await new Promise((r) => setTimeout(r, 300))
    await workers[0]!.terminate()
    await assert.rejects(pending.done, (err: unknown) => err instanceof SendError && err.kind === 'network' && /export thread was lost/.test(err.message))
    assert.equal((await exportThread.send(new URL(`${sink.url}/v1/metrics`), body(2), options, true).done).status, 200)
    assert.equal(workers.length, 1, 'not made again')
    assert.equal(lines.filter((l) => l.includes('worker thread "export"')).length, 1, lines.join(''))
  } finally {
    exportThread.destroy()
    await blackhole.close()
    await sink.close()
  }
})

test('abort settles at once; destroy fails what the thread still held, and is idempotent', async () => {
  const blackhole = await OtlpSink.start({ mode: 'blackhole' })
  const { exportThread, lines } = thread()
  try {
    const aborted = exportThread.send(new URL(`${blackhole.url}/v1/metrics`), body(1), { ...options, totalTimeoutMs: 60_000 }, true)
    const held = exportThread.send(new URL(`${blackhole.url}/v1/metrics`), body(2), { ...options, totalTimeoutMs: 60_000 }, true)
    aborted.abort()
    await assert.rejects(aborted.done, (err: unknown) => err instanceof SendError && err.kind === 'aborted')
    exportThread.destroy()
    exportThread.destroy()
    await assert.rejects(held.done, (err: unknown) => err instanceof SendError && /export thread was lost \(stopped\)/.test(err.message))
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(lines.filter((l) => l.includes('AGENT_RESOURCE_FAILED')).length, 0, 'stopped on purpose: nothing to report')
  } finally {
    await blackhole.close()
  }
})

test('the thread keeps the process alive only for a referenced send', async () => {
  const sink = await OtlpSink.start({ mode: 'slow' })
  sink.slowMs = 400
  const fixture = fileURLToPath(new URL('./fixtures/export-thread-send.ts', import.meta.url))
  try {
    // Asynchronous: the sink answers from this process. Rejects unless the fixture exits with 0.
    const run = (ref: string) => promisify(execFile)(process.execPath, ['--import', 'tsx', fixture], { env: { ...process.env, SINK: sink.url, REF: ref }, encoding: 'utf8', timeout: 20_000 })
    // Referenced: the process waits for the answer, then exits by itself.
    assert.match((await run('1')).stdout, /answered 200/)
    // Not referenced: nothing keeps it alive; it exits before the answer.
    assert.doesNotMatch((await run('')).stdout, /answered|failed/)
  } finally {
    await sink.close()
  }
})
