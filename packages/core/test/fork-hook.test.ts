import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'
import { FIXTURES, runFixture, exitWithin } from './helpers/fixtures.ts'
import { get } from '@agent/test-helpers/load.ts'

const cwd = join(FIXTURES, '..', '..')

test('child_process.fork of a plain script: the child is monitored, as role child with the parent instance id', async () => {
  const sink = await OtlpSink.start()
  const run = runFixture(join(FIXTURES, 'fork-parent.cjs'), { AGENT_KEY: 'k', AGENT_ENDPOINT: sink.url, AGENT_LOG_LEVEL: 'warn' }, { execArgv: [], cwd })
  const parentLine = await run.waitFor(/^parent instance/)
  assert.match(run.stdout, /parent got \{"echo":\{"hello":"child"\},"done":true\}/, "the app's own IPC is untouched")
  const parentId = parentLine.split(' ')[2]
  assert.notEqual(await exitWithin(run, 15_000), 'hung')
  const starts = sink.logRecords().filter((r) => r.attributes['event.name'] === 'agent.process.start')
  const child = starts.find((s) => s.resource['agent.process.role'] === 'child')
  assert.ok(child, `a process start from the child: ${JSON.stringify(starts.map((s) => s.resource))}`)
  assert.equal(child.resource['agent.parent.instance.id'], parentId)
  assert.equal(child.resource['service.name'], 'fork-parent', 'options given in code reach the child')
  assert.notEqual(child.resource['service.instance.id'], parentId)
  await sink.close()
})

const PIDS_ROOT = '/sys/fs/cgroup/pids'
const canCgroup = process.getuid?.() === 0 && existsSync(join(PIDS_ROOT, 'cgroup.procs'))

test('at a pids ceiling, fork and Worker fail for the app as they would, and the agent keeps reporting', { skip: canCgroup ? false : 'needs root and a cgroup v1 pids hierarchy at /sys/fs/cgroup/pids to make a real ceiling' }, async () => {
  const sink = await OtlpSink.start()
  const group = join(PIDS_ROOT, `agent-test-${process.pid}`)
  mkdirSync(group, { recursive: true })
  const run = runFixture(join(FIXTURES, 'pids-app.cjs'), { AGENT_NAME: 'pids', AGENT_KEY: 'k', AGENT_ENDPOINT: sink.url, AGENT_LOG_LEVEL: 'warn', AGENT_FLUSH_INTERVAL_MS: '1000' }, { execArgv: [], cwd })
  try {
    const port = (await run.waitFor(/^listening/)).split(' ')[1]
    assert.equal((await get(`http://127.0.0.1:${port}/warm`)).status, 200)
    await new Promise((r) => setTimeout(r, 300))
    writeFileSync(join(group, 'cgroup.procs'), String(run.child.pid))
    const current = Number(readFileSync(join(group, 'pids.current'), 'utf8'))
    writeFileSync(join(group, 'pids.max'), String(current))
    run.child.send('try')
    await run.waitFor(/^app-error fork EAGAIN/)
    await run.waitFor(/^app-error worker/)
    for (let i = 0; i < 10; i++) assert.equal((await get(`http://127.0.0.1:${port}/after`)).status, 200)
    await new Promise((r) => setTimeout(r, 1500))
    assert.equal(sink.requests((_r, p) => p['http.route'] === '/after'), 10, 'the agent reports after the ceiling')
    assert.equal((run.stderr.match(/fork/gi) ?? []).length, 1, `the agent logs the failed fork once: ${run.stderr}`)
    run.child.send('finish')
    assert.notEqual(await exitWithin(run, 10_000), 'hung')
  } finally {
    run.kill('SIGKILL')
    await run.exited
    try {
      rmdirSync(group)
    } catch {}
    await sink.close()
  }
})

test('the agent loaded by file path (not by package name) is recognised: a child gets no second preload', async () => {
  const { hasPreload } = await import('../src/fork-hook.ts')
  const preload = join(cwd, 'dist', 'preload.cjs')
  assert.equal(hasPreload(['--require', preload], '/nowhere/else.cjs'), true, 'by absolute path')
  assert.equal(hasPreload([`--import=${preload}`], '/nowhere/else.cjs'), true, 'as --import=path')
  assert.equal(hasPreload(['--require', join(cwd, 'node_modules', '@agent', 'test-helpers', 'src', 'load.ts')], '/nowhere/else.cjs'), true, 'any file of an @agent package')
  assert.equal(hasPreload(['--require', join(cwd, 'node_modules', 'tsx', 'dist', 'loader.mjs')], '/nowhere/else.cjs'), false, "another package's file")
  assert.equal(hasPreload(['--max-old-space-size=100'], '/nowhere/else.cjs'), false)
})
