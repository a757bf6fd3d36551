// BullMQ job workers on a real Redis, in real processes: exact counts per
// job name and outcome against what BullMQ reports, in-process and sandboxed
// (forked children and worker threads), the last interval flushed at
// SIGTERM, the producer's trace carried from an HTTP request to the job,
// queue health, and a worker at a pids ceiling.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'
import { startRedis, type DbServer } from '@agent/test-helpers/db-servers.ts'
import { get } from '@agent/test-helpers/load.ts'
import { EXIT_BUDGET_MS, FIXTURES, runFixture, exitWithin } from './helpers/fixtures.ts'

const cwd = join(FIXTURES, '..', '..')
let redis: DbServer

before(async () => {
  redis = await startRedis()
})
after(async () => {
  await redis?.stop()
})

type Point = { attributes: Record<string, unknown>; resource: Record<string, unknown>; count: number }

/** Every point of a histogram metric, with its attributes and its process's resource. */
function histogramPoints(sink: OtlpSink, name: string): Point[] {
  const out: Point[] = []
  for (const body of sink.payloads('/v1/metrics')) {
    for (const rm of body.resourceMetrics ?? []) {
      const resource = attrsOf(rm.resource?.attributes)
      for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) {
        if (m.name !== name) continue
        for (const p of m.exponentialHistogram?.dataPoints ?? []) out.push({ attributes: attrsOf(p.attributes), resource, count: Number(p.count) })
      }
    }
  }
  return out
}

function attrsOf(list: { key: string; value: Record<string, unknown> }[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const kv of list ?? []) out[kv.key] = kv.value.stringValue ?? (kv.value.intValue !== undefined ? Number(kv.value.intValue) : kv.value.doubleValue ?? kv.value.boolValue)
  return out
}

/** Exported `agent.job.duration` counts, keyed `name outcome`, for one queue. */
function jobCounts(sink: OtlpSink, queue: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const p of histogramPoints(sink, 'agent.job.duration')) {
    if (p.attributes['messaging.destination.name'] !== queue) continue
    const key = `${p.attributes['agent.job.name']} ${p.attributes['agent.job.outcome']}`
    out[key] = (out[key] ?? 0) + p.count
  }
  return out
}

const sum = (counts: Record<string, number>, outcome: string) => Object.entries(counts).filter(([k]) => k.endsWith(` ${outcome}`)).reduce((n, [, v]) => n + v, 0)

interface Settled { completed: number; failed: number; events: { completed: number; failed: number; finalFailed: number } }

/**
 * Runs the worker fixture until BullMQ settled every job, then SIGTERM (the
 * report interval is a minute: what is exported went out at exit).
 */
async function runWorker(mode: 'inline' | 'fork' | 'threads', install: 'code' | 'flag', jobs: number, crash = 0) {
  const sink = await OtlpSink.start()
  const queue = `q-${mode}-${install}-${process.pid}`
  const run = runFixture(join(FIXTURES, 'bullmq-worker.cjs'), {
    AGENT_NAME: 'jobs', AGENT_ENDPOINT: sink.url, AGENT_FLUSH_INTERVAL_MS: '60000', AGENT_LOG_LEVEL: 'warn', AGENT_SHUTDOWN_TIMEOUT_MS: EXIT_BUDGET_MS,
    REDIS_PORT: String(redis.port), QUEUE: queue, MODE: mode, INSTALL: install, JOBS: String(jobs), CRASH: String(crash),
  }, { execArgv: install === 'flag' ? ['--import', '@agent/core/preload'] : [], cwd })
  try {
    const settled = JSON.parse((await run.waitFor(/^settled /, 60_000)).slice('settled '.length)) as Settled
    run.kill('SIGTERM')
    await run.waitFor(/^closed/, 30_000)
    const exit = await exitWithin(run, 20_000)
    assert.notEqual(exit, 'hung', run.stderr)
    return { sink, queue, settled, stderr: run.stderr }
  } catch (error) {
    run.kill('SIGKILL')
    await sink.close()
    throw error
  }
}

function assertExact(counts: Record<string, number>, settled: Settled, jobs: number, label: string): void {
  // What BullMQ reports: its completed and failed sets, and 'failed' events for the attempts it retried.
  assert.equal(settled.completed, 2 * jobs)
  assert.equal(settled.failed, jobs)
  assert.equal(sum(counts, 'completed'), settled.completed, `${label}: completed ${JSON.stringify(counts)}`)
  assert.equal(sum(counts, 'failed'), settled.failed, `${label}: failed ${JSON.stringify(counts)}`)
  assert.equal(sum(counts, 'retried'), settled.events.failed - settled.events.finalFailed, `${label}: retried ${JSON.stringify(counts)}`)
  assert.deepEqual(counts, { 'ok completed': jobs, 'bad retried': jobs, 'bad failed': jobs, 'flaky retried': jobs, 'flaky completed': jobs }, label)
}

test('an in-process processor in a worker with no HTTP server (agent in code): counts per name and outcome equal BullMQ\'s, exported at SIGTERM; wait and queue health', async () => {
  const jobs = 12
  const { sink, queue, settled, stderr } = await runWorker('inline', 'code', jobs)
  try {
    assertExact(jobCounts(sink, queue), settled, jobs, 'inline')
    assert.doesNotMatch(stderr, /error/i)
    const waits = histogramPoints(sink, 'agent.job.wait').filter((p) => p.attributes['messaging.destination.name'] === queue)
    assert.equal(waits.reduce((n, p) => n + p.count, 0), 5 * jobs, 'a wait for every attempt')
    const roles = new Set(histogramPoints(sink, 'agent.job.duration').map((p) => p.resource['agent.process.role']))
    assert.deepEqual([...roles], ['standalone'])
    // Queue health: the worker's queue, each state, as gauges.
    const depths = sink.payloads('/v1/metrics').flatMap((b) => b.resourceMetrics.flatMap((rm: any) => rm.scopeMetrics.flatMap((sm: any) => sm.metrics.filter((m: any) => m.name === 'agent.queue.jobs'))))
    const states = new Set(depths.flatMap((m: any) => m.gauge.dataPoints).map((p: any) => attrsOf(p.attributes)).filter((a) => a['messaging.destination.name'] === queue).map((a) => a['agent.queue.state']))
    assert.deepEqual([...states].sort(), ['active', 'delayed', 'failed', 'waiting'])
    // Errors are grouped under the job with its id, never its data.
    const errors = sink.logRecords().filter((l) => l.attributes['event.name'] === 'exception' && l.attributes['http.route'] === `${queue}/bad`)
    assert.equal(errors.reduce((n, l) => n + Number(l.attributes['agent.error.count']), 0), 2 * jobs)
    assert.match(String(errors[0]!.attributes['agent.error.context']), /"jobId":"\d+"/)
  } finally {
    await sink.close()
  }
})

test('a sandboxed processor in forked children (agent by --import flag): each job counted once, in its child, linked to the parent', async () => {
  const jobs = 8
  const { sink, queue, settled } = await runWorker('fork', 'flag', jobs)
  try {
    assertExact(jobCounts(sink, queue), settled, jobs, 'fork')
    const points = histogramPoints(sink, 'agent.job.duration').filter((p) => p.attributes['messaging.destination.name'] === queue)
    assert.ok(points.every((p) => p.resource['agent.process.role'] === 'child'), 'measured where the processor runs, not again in the parent')
    const starts = sink.logRecords().filter((r) => r.attributes['event.name'] === 'agent.process.start')
    const parent = starts.find((s) => s.resource['agent.process.role'] !== 'child')
    assert.ok(parent)
    assert.ok(points.every((p) => p.resource['agent.parent.instance.id'] === parent.resource['service.instance.id']), 'the children name their parent')
  } finally {
    await sink.close()
  }
})

test('a sandboxed processor in worker threads (agent in code): each job counted once, in its thread (role thread, of the parent\'s pid)', async () => {
  const jobs = 8
  const { sink, queue, settled, stderr } = await runWorker('threads', 'code', jobs)
  try {
    assertExact(jobCounts(sink, queue), settled, jobs, `threads ${stderr}`)
    const points = histogramPoints(sink, 'agent.job.duration').filter((p) => p.attributes['messaging.destination.name'] === queue)
    const parent = sink.logRecords().find((s) => s.attributes['event.name'] === 'agent.process.start' && s.resource['agent.process.role'] !== 'child')
    assert.ok(parent)
    // A thread is of its process: its role says so, and its pid is the parent's.
    assert.ok(points.every((p) => p.resource['agent.process.role'] === 'thread' && p.resource['process.pid'] === parent.resource['process.pid'] && p.resource['service.instance.id'] !== parent.resource['service.instance.id']), JSON.stringify(points.map((p) => p.resource)))
  } finally {
    await sink.close()
  }
})

test('a sandboxed child that exits mid-job loses that job\'s measurement only, and the parent says so once', async () => {
  const jobs = 6
  const { sink, queue, settled, stderr } = await runWorker('fork', 'code', jobs, 2)
  try {
    const counts = jobCounts(sink, queue)
    assert.equal(settled.completed, 2 * jobs)
    assert.equal(settled.failed, jobs + 2, 'BullMQ fails the two jobs whose child died')
    assert.equal(sum(counts, 'completed'), settled.completed, `every completed job counted: ${JSON.stringify(counts)}`)
    assert.equal(counts['crash failed'] ?? 0, 0, 'the jobs in flight when their child died are lost')
    assert.equal(sum(counts, 'failed'), settled.failed - 2, 'and only those')
    assert.equal(sum(counts, 'retried'), settled.events.failed - settled.events.finalFailed)
    const said = stderr.split('\n').filter((l) => l.includes('[agent]') && l.includes('exited while running job'))
    assert.equal(said.length, 1, stderr)
    assert.match(said[0]!, /Unexpected exit code: 3/)
  } finally {
    await sink.close()
  }
})

test('a job that stalls (its worker blocked past its lock) counts once as stalled where it is found, and once as completed when it runs again; not as completed by the worker that lost it', async () => {
  const sink = await OtlpSink.start()
  const queue = `q-stall-${process.pid}`
  const release = join(mkdtempSync(join(tmpdir(), 'stall-')), 'release')
  const env = { AGENT_NAME: 'stall', AGENT_ENDPOINT: sink.url, AGENT_FLUSH_INTERVAL_MS: '60000', AGENT_LOG_LEVEL: 'warn', AGENT_SHUTDOWN_TIMEOUT_MS: EXIT_BUDGET_MS, REDIS_PORT: String(redis.port), QUEUE: queue, RELEASE: release }
  const checker = runFixture(join(FIXTURES, 'bullmq-stall.cjs'), { ...env, ROLE: 'checker' }, { execArgv: [], cwd })
  let hog: ReturnType<typeof runFixture> | undefined
  try {
    await checker.waitFor(/^checking/)
    hog = runFixture(join(FIXTURES, 'bullmq-stall.cjs'), { ...env, ROLE: 'hog' }, { execArgv: [], cwd })
    await checker.waitFor(/^stalled 1/, 30_000)
    // The hog blocks until the stall was seen, however slowly the checker ran.
    writeFileSync(release, '')
    await hog.waitFor(/^completed 1/, 30_000)
    checker.kill('SIGTERM')
    hog.kill('SIGTERM')
    assert.notEqual(await exitWithin(checker, 10_000), 'hung')
    assert.notEqual(await exitWithin(hog, 10_000), 'hung')
    assert.deepEqual(jobCounts(sink, queue), { 'report stalled': 1, 'report completed': 1 })
  } finally {
    checker.kill('SIGKILL')
    hog?.kill('SIGKILL')
    rmSync(dirname(release), { recursive: true, force: true })
    await sink.close()
  }
})

test('a job enqueued from an instrumented HTTP request shares its trace id; neither add\'s caller nor the processor sees the agent\'s option', async () => {
  const sink = await OtlpSink.start()
  const queue = `q-trace-${process.pid}`
  const env = { AGENT_NAME: 'shop', AGENT_ENDPOINT: sink.url, AGENT_FLUSH_INTERVAL_MS: '1000', AGENT_SLOW_REQUEST_MS: '0', AGENT_LOG_LEVEL: 'warn', REDIS_PORT: String(redis.port), QUEUE: queue }
  const web = runFixture(join(FIXTURES, 'bullmq-web.cjs'), env, { execArgv: [], cwd })
  const worker = runFixture(join(FIXTURES, 'bullmq-consumer.cjs'), env, { execArgv: [], cwd })
  try {
    const port = (await web.waitFor(/^listening/)).split(' ')[1]
    const res = await get(`http://127.0.0.1:${port}/enqueue`)
    assert.equal(res.status, 200)
    assert.deepEqual(JSON.parse(res.body), { optionKeys: ['attempts', 'jobId'], hasAgentOption: false }, 'the job add returned has the options the app gave')
    const line = await worker.waitFor(/^processed /)
    assert.equal(line, 'processed email agent-option=false')
    let root: any
    let server: any
    for (let i = 0; i < 100 && !(root && server); i++) {
      await new Promise((r) => setTimeout(r, 100))
      const spans = sink.spans()
      root = spans.find((s) => s.kind === 5 && s.name === `${queue}/email`)
      server = spans.find((s) => s.kind === 2 && s.attrs['http.route'] === '/enqueue')
    }
    assert.ok(root && server, 'the request and the job each exported a trace')
    assert.equal(root.traceId, server.traceId, 'the job is in the trace of the request that enqueued it')
    assert.notEqual(root.parentSpanId, '')
  } finally {
    web.kill('SIGKILL')
    worker.kill('SIGKILL')
    await Promise.all([web.exited, worker.exited])
    await sink.close()
  }
})

const PIDS_ROOT = '/sys/fs/cgroup/pids'
const canCgroup = process.getuid?.() === 0 && existsSync(join(PIDS_ROOT, 'cgroup.procs'))

test('a sandboxed job worker at a pids ceiling: the fork fails for BullMQ as it would, the worker runs on, the agent logs it once and keeps reporting', { skip: canCgroup ? false : 'needs root and a cgroup v1 pids hierarchy at /sys/fs/cgroup/pids to make a real ceiling' }, async () => {
  const sink = await OtlpSink.start()
  const group = join(PIDS_ROOT, `agent-bullmq-${process.pid}`)
  mkdirSync(group, { recursive: true })
  const queue = `q-pids-${process.pid}`
  const run = runFixture(join(FIXTURES, 'bullmq-pids.cjs'), {
    AGENT_NAME: 'pids', AGENT_ENDPOINT: sink.url, AGENT_FLUSH_INTERVAL_MS: '1000', AGENT_LOG_LEVEL: 'warn', REDIS_PORT: String(redis.port), QUEUE: queue,
  }, { execArgv: [], cwd })
  try {
    await run.waitFor(/^ready/)
    writeFileSync(join(group, 'cgroup.procs'), String(run.child.pid))
    writeFileSync(join(group, 'pids.max'), String(Number(readFileSync(join(group, 'pids.current'), 'utf8'))))
    run.child.send('enqueue')
    await run.waitFor(/^failed 3/, 60_000)
    // BullMQ 6.7.0 re-emits the fork's error on its Child with no listener: without a handler of the app's, any worker dies here, agent or not.
    assert.match(run.stdout, /^app-uncaught EAGAIN/m, 'the app got the error itself')
    run.child.send('tick')
    await run.waitFor(/^ticked/)
    // The agent still reports from the main thread: the app's own job loop after the ceiling.
    for (let i = 0; i < 100 && sum(jobCounts(sink, 'after'), 'completed') < 1; i++) await new Promise((r) => setTimeout(r, 100))
    assert.equal(sum(jobCounts(sink, 'after'), 'completed'), 1, 'the agent reports after the ceiling')
    const forkLines = run.stderr.split('\n').filter((l) => l.includes('[agent]') && /fork/i.test(l))
    assert.equal(forkLines.length, 1, `the agent logs the failed fork once: ${run.stderr}`)
    // The jobs that never reached a child are counted by the parent, as BullMQ settles them.
    const counts = jobCounts(sink, queue)
    assert.equal(sum(counts, 'failed'), 3, JSON.stringify(counts))
    run.child.send('finish')
    assert.notEqual(await exitWithin(run, 20_000), 'hung')
  } finally {
    run.kill('SIGKILL')
    await run.exited
    try {
      rmdirSync(group)
    } catch {}
    await sink.close()
  }
})
