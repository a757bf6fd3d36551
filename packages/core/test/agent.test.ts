import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { once } from 'node:events'
import { Agent } from '../src/agent.ts'
import { GuardedFactory, defaultCreators, type ResourceCreators } from '../src/guards.ts'
import { Logger } from '../src/logger.ts'
import { runFixture, exitWithin } from './helpers/fixtures.ts'
import { get } from '@agent/test-helpers/load.ts'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'

const base = { name: 'test-app', key: 'k', endpoint: 'http://127.0.0.1:9', logLevel: 'info' as const, flushIntervalMs: 60_000 }

function capture() {
  const lines: string[] = []
  return { lines, logWrite: (l: string) => lines.push(l) }
}

test('100 start/stop cycles leave listener and handle counts as they were', async () => {
  const run = runFixture('lifecycle-cycles.ts')
  const line = await run.waitFor(/^\{/)
  const { before, after, maxDuring } = JSON.parse(line)
  assert.deepEqual(after.listeners, before.listeners)
  assert.deepEqual(after.resources, before.resources)
  assert.equal(maxDuring, before.listeners.SIGTERM + 1, 'one SIGTERM listener while started, however often started')
  const exit = await exitWithin(run, 10_000)
  assert.notEqual(exit, 'hung')
})

test('timer creation failing (EAGAIN) leaves the agent running, logged once', () => {
  const { lines, logWrite } = capture()
  const creators: ResourceCreators = {
    ...defaultCreators,
    setInterval: () => {
      throw Object.assign(new Error('Resource temporarily unavailable'), { code: 'EAGAIN' })
    },
  }
  const agent = new Agent({ ...base, forceStart: true, creators, logWrite })
  assert.doesNotThrow(() => agent.start())
  assert.equal(agent.state, 'started')
  agent.stop()
  agent.start()
  const failures = lines.filter((l) => l.includes('AGENT_RESOURCE_FAILED') && l.includes('"flush"'))
  assert.equal(failures.length, 1, lines.join(''))
  assert.match(failures[0]!, /EAGAIN/)
  agent.stop()
})

test('worker thread creation failing (ERR_WORKER_INIT_FAILED) falls back, logged once', () => {
  const { lines, logWrite } = capture()
  const factory = new GuardedFactory(new Logger('info', logWrite), {
    ...defaultCreators,
    createWorker: () => {
      throw Object.assign(new Error('worker init failed'), { code: 'ERR_WORKER_INIT_FAILED' })
    },
  })
  const lost: string[] = []
  assert.equal(factory.worker('export', new URL('data:text/javascript,'), { eval: false }, (why) => lost.push(why)), undefined)
  assert.equal(factory.worker('export', new URL('data:text/javascript,'), { eval: false }, (why) => lost.push(why)), undefined)
  assert.deepEqual(lost, ['creation failed', 'creation failed'])
  assert.equal(lines.filter((l) => l.includes('ERR_WORKER_INIT_FAILED')).length, 1)
})

test('a worker thread that dies is reported once and the caller falls back', async () => {
  const { lines, logWrite } = capture()
  const factory = new GuardedFactory(new Logger('info', logWrite))
  const lost = new Promise<string>((resolve) => factory.worker('dies', 'throw new Error("boom")', { eval: true }, resolve))
  const keepAlive = setTimeout(() => {}, 10_000) // the agent's worker is unref'd by design
  assert.match(await lost, /boom/)
  clearTimeout(keepAlive)
  assert.equal(lines.filter((l) => l.includes('worker thread "dies"')).length, 1)
})

test('a failing task is logged once and the agent keeps going', async () => {
  const { lines, logWrite } = capture()
  const factory = new GuardedFactory(new Logger('info', logWrite))
  let runs = 0
  const timer = factory.interval('bad', 5, () => {
    runs++
    throw new Error('bug')
  })
  while (runs < 5) await new Promise((r) => setTimeout(r, 5))
  clearInterval(timer)
  assert.equal(lines.filter((l) => l.includes('AGENT_TASK_FAILED')).length, 1)
})

test('no error service when errors are off', () => {
  const intervals = (errorsEnabled: boolean) => {
    let created = 0
    const agent = new Agent({ ...base, forceStart: true, errorsEnabled, logLevel: 'silent', creators: { ...defaultCreators, setInterval: (fn, ms) => (created++, setInterval(fn, ms)) } })
    agent.start()
    agent.stop()
    return { created, errors: agent.recorder.errors }
  }
  const on = intervals(true)
  const off = intervals(false)
  assert.ok(on.errors)
  assert.equal(off.errors, undefined)
  assert.equal(on.created - off.created, 1, 'exactly one task less: the error service')
})

test('preconditions: the first unmet one is logged once, and the agent stays off', () => {
  for (const [options, reason] of [
    [{ monitor: false }, /monitoring is off/],
    [{ name: '' }, /no application name/],
  ] as const) {
    const { lines, logWrite } = capture()
    const agent = new Agent({ ...base, ...options, logWrite })
    agent.activate()
    agent.activate()
    assert.equal(agent.state, 'idle')
    assert.equal(lines.length, 1, lines.join(''))
    assert.match(lines[0]!, reason)
  }
})

test('with no server at boot it stands by, then starts on the first request without delaying it', async () => {
  const { lines, logWrite } = capture()
  const agent = new Agent({ ...base, logWrite })
  const verdict = agent.activate()
  assert.equal(verdict.start, false)
  assert.equal(agent.state, 'standby')
  assert.match(lines.join(''), /standing by/)
  const server = http.createServer((_req, res) => res.end('ok'))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const res = await get(`http://127.0.0.1:${port}/first`)
  assert.equal(res.status, 200)
  await new Promise((r) => setImmediate(r))
  assert.equal(agent.state, 'started')
  await get(`http://127.0.0.1:${port}/second`)
  const snapshot = agent.recorder.aggregator.drain()
  assert.equal(snapshot.endpoints.reduce((n, e) => n + e.count, 0), 2, 'the first request is counted too')
  agent.stop()
  server.close()
})

test('install is idempotent and a listening server is detected', async () => {
  const server = http.createServer((_req, res) => res.end('ok'))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const agent = new Agent({ ...base, logLevel: 'silent' })
  assert.equal(agent.activate().start, true)
  assert.equal(agent.activate().start, false)
  assert.equal(agent.state, 'started')
  assert.equal(process.listenerCount('SIGTERM'), 1)
  agent.stop()
  assert.equal(process.listenerCount('SIGTERM'), 0)
  server.close()
})

test("the agent does not start inside the app's worker threads unless instrumentWorkerThreads is set", async () => {
  const { Worker } = await import('node:worker_threads')
  const inThread = (instrument: boolean) => new Promise<{ state: string; role: string; lines: string }>((resolve, reject) => {
    const code = `
      const { parentPort } = require('node:worker_threads')
      const lines = []
      const agent = require('@agent/core').install({ name: 'n', key: 'k', forceStart: true, instrumentWorkerThreads: ${instrument}, logWrite: (l) => lines.push(l) })
      parentPort.postMessage({ state: agent.state, role: agent.identity.role, lines: lines.join('') })
      agent.stop()`
    const worker = new Worker(code, { eval: true })
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const off = await inThread(false)
  assert.equal(off.state, 'idle')
  assert.match(off.lines, /inside a worker thread; set "instrumentWorkerThreads"/)
  const on = await inThread(true)
  assert.equal(on.state, 'started')
  assert.equal(on.role, 'thread')
})

test('a mistyped endpoint never falls back to another address: the agent does not start, and says why at warn', () => {
  const { lines, logWrite } = capture()
  const agent = new Agent({ ...base, endpoint: 'htp://127.0.0.1:4318', logLevel: 'warn', forceStart: true, logWrite })
  assert.equal(agent.activate().start, false)
  assert.equal(agent.state, 'idle')
  const text = lines.join('')
  assert.match(text, /AGENT_CONFIG_VALUE: config key "endpoint"/)
  assert.match(text, /AGENT_NOT_STARTED: agent not started: no valid endpoint/)
})

test('missing settings are one warning naming each of them; a key is not one of them', () => {
  const { lines, logWrite } = capture()
  const agent = new Agent({ ...base, name: '', key: '', endpoint: '', logLevel: 'warn', logWrite })
  agent.activate()
  assert.equal(agent.state, 'idle')
  assert.match(lines.join(''), /warn: AGENT_NOT_STARTED: .*no application name.*no valid endpoint/)
  const keyless = new Agent({ ...base, key: '', forceStart: true, logLevel: 'silent' })
  assert.equal(keyless.activate().start, true, 'without a key the agent runs: a collector may ask for none')
  keyless.stop()
})

test('the start line never prints credentials of the endpoint', () => {
  const { lines, logWrite } = capture()
  const agent = new Agent({ ...base, endpoint: 'http://user:s3cret-pass@127.0.0.1:9', forceStart: true, logWrite })
  agent.start()
  agent.stop()
  assert.match(lines.join(''), /started for service/)
  assert.doesNotMatch(lines.join(''), /s3cret-pass/)
})

test('with instrumentWorkerThreads, the agent runs in a worker thread of the app and delivers at the thread\'s end', async () => {
  const { Worker } = await import('node:worker_threads')
  const sink = await OtlpSink.start()
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    const http = require('node:http')
    require('@agent/core').install({ name: 'in-thread', key: 'k', endpoint: workerData.endpoint, instrumentWorkerThreads: true, logLevel: 'warn' })
    const server = http.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port))
    parentPort.once('message', () => { server.close(); parentPort.close() })`
  try {
    const worker = new Worker(code, { eval: true, workerData: { endpoint: sink.url } })
    const stderr: string[] = []
    worker.on('error', (err) => stderr.push(String(err)))
    const port = await once(worker, 'message').then(([p]) => p as number)
    for (let i = 0; i < 7; i++) assert.equal((await get(`http://127.0.0.1:${port}/in-thread/${i}`)).status, 200)
    worker.postMessage('close')
    await once(worker, 'exit')
    assert.deepEqual(stderr, [])
    assert.equal(sink.requests(), 7)
    assert.equal(sink.requests((r) => r['agent.process.role'] === 'thread'), 7)
  } finally {
    await sink.close()
  }
})

test('options given in code after a flag made the agent: applied while it stands by, named once when it has started', () => {
  const { lines, logWrite } = capture()
  const agent = new Agent({ ...base, logWrite })
  agent.applyCodeOptions({ slowRequestMs: 123 })
  assert.equal(agent.config.slowRequestMs, 123, 'applied before the start')
  agent.start()
  agent.applyCodeOptions({ slowRequestMs: 456, name: base.name })
  agent.applyCodeOptions({ slowRequestMs: 456 })
  const late = lines.filter((l) => l.includes('AGENT_OPTIONS_TOO_LATE'))
  assert.equal(late.length, 1, lines.join(''))
  assert.match(late[0]!, /"slowRequestMs" came after the agent started/)
  assert.doesNotMatch(late[0]!, /"name"/, 'an option equal to the running one is not named')
  agent.stop()
})

test('after the collector rejected the key, the shutdown line says so instead of asking for more time', async () => {
  const sink = await OtlpSink.start({ mode: 'status' })
  sink.status = 401
  const { lines, logWrite } = capture()
  try {
    // No budget at all: the last delivery cannot finish, and its line says why.
    const agent = new Agent({ ...base, endpoint: sink.url, forceStart: true, shutdownTimeoutMs: 0, logWrite })
    agent.start()
    const log = () => agent.sendLogs([{ timeMs: Date.now(), severity: 'info', body: 'x', eventName: 'test', attributes: {} }])
    log()
    const end = Date.now() + 5000
    while (agent.exporter.lastFailure === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
    log()
    log()
    await agent.shutdown()
    assert.match(lines.join(''), /AGENT_EXPORT_REJECTED: .*HTTP 401/)
    const timeout = lines.find((l) => l.includes('AGENT_SHUTDOWN_TIMEOUT'))
    assert.ok(timeout, lines.join(''))
    assert.match(timeout, /The last export failed: the collector rejected a payload with HTTP 401; check "endpoint" and "key"/)
    assert.doesNotMatch(timeout, /Raise shutdownTimeoutMs/)
  } finally {
    await sink.close()
  }
})
