// The job API in a real process with no HTTP server: outcomes, wait, errors,
// client calls and N+1 inside a job, the caller's trace, and a SIGTERM flush.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'
import { EXIT_BUDGET_MS, runFixture, exitWithin } from './helpers/fixtures.ts'

test('recordJob and startJob: exact counts per outcome, wait, errors with the job id, a call-out job\'s layers and N+1, flushed at SIGTERM', async () => {
  const sink = await OtlpSink.start()
  const downstream = http.createServer((_req, res) => res.end('ok'))
  await new Promise<void>((r) => downstream.listen(0, '127.0.0.1', r))
  const run = runFixture('job-loop.ts', {
    AGENT_NAME: 'jobs', AGENT_ENDPOINT: sink.url, AGENT_FLUSH_INTERVAL_MS: '60000', AGENT_SLOW_REQUEST_MS: '100000', AGENT_LOG_LEVEL: 'warn', AGENT_SHUTDOWN_TIMEOUT_MS: EXIT_BUDGET_MS,
    JOBS: '20', DOWNSTREAM: `http://127.0.0.1:${(downstream.address() as { port: number }).port}`,
  })
  try {
    assert.equal((await run.waitFor(/^jobs done/)).split(' ')[2], '5')
    run.kill('SIGTERM')
    assert.notEqual(await exitWithin(run, 10_000), 'hung')
    const points = (name: string) => sink.payloads('/v1/metrics').flatMap((b) => b.resourceMetrics.flatMap((rm: any) => rm.scopeMetrics.flatMap((sm: any) => sm.metrics.filter((m: any) => m.name === name))))
    const count = (outcome: string, job = 'resize') => points('agent.job.duration').flatMap((m: any) => m.exponentialHistogram.dataPoints)
      .filter((p: any) => p.attributes.some((a: any) => a.key === 'agent.job.outcome' && a.value.stringValue === outcome) && p.attributes.some((a: any) => a.key === 'agent.job.name' && a.value.stringValue === job))
      .reduce((n: number, p: any) => n + Number(p.count), 0)
    assert.equal(count('completed'), 15, 'the last interval went out at SIGTERM, every job counted once')
    assert.equal(count('failed'), 5)
    assert.equal(count('retried', 'call-out'), 1)
    const wait = points('agent.job.wait').flatMap((m: any) => m.exponentialHistogram.dataPoints)
    assert.equal(wait.reduce((n: number, p: any) => n + Number(p.count), 0), 20, 'a wait for each job that said when it was enqueued')
    assert.ok(wait.every((p: any) => p.min >= 0.04), 'enqueued 50 ms before its start')
    assert.equal(sink.sumOf('agent.layer.calls', (_r, p) => p['agent.job.name'] === 'call-out' && p['agent.layer'] === 'http'), 5)
    assert.equal(sink.sumOf('agent.n_plus_one.requests', (_r, p) => p['agent.job.name'] === 'call-out' && String(p['db.query.text']).endsWith('/item/:id')), 1)
    const errors = sink.logRecords().filter((l) => l.attributes['event.name'] === 'exception')
    const broken = errors.find((l) => l.attributes['http.route'] === 'images/resize')
    assert.ok(broken, 'the failures are grouped under the job')
    assert.equal(broken.attributes['agent.error.count'], 5)
    assert.match(String(broken.attributes['agent.error.context']), /"jobId":"3"/)
    // The N+1 job's example trace: a consumer span with its five client spans.
    const spans = sink.spans()
    const root = spans.find((s) => s.kind === 5 && s.name === 'images/call-out')
    assert.ok(root, 'the N+1 example of the job')
    assert.equal(root.attrs['agent.job.outcome'], 'retried')
    assert.equal(spans.filter((s) => s.kind === 3 && s.traceId === root.traceId).length, 5)
  } finally {
    run.kill('SIGKILL')
    downstream.close()
    await sink.close()
  }
})
