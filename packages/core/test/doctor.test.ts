// `npx @agent/core doctor` against real collectors that misbehave: one line
// each, naming the cause and the fix, and an exit code that says it.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'
import { freePort } from '@agent/test-helpers/ports.ts'

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'agent-doctor-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

function runDoctor(env: Record<string, string>, args: string[] = []): Promise<{ code: number; out: string }> {
  const clean: NodeJS.ProcessEnv = { PATH: process.env.PATH }
  return new Promise((resolve) => {
    // The app's folder is a fresh one: tsx is named by its own URL.
    execFile(process.execPath, ['--import', import.meta.resolve('tsx'), cli, 'doctor', ...args], { env: { ...clean, ...env }, cwd: mkdtempSync(join(tmp, 'app-')), timeout: 30_000 }, (err, stdout) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout })
    })
  })
}

test('doctor: a working collector that takes the key', async () => {
  const sink = await OtlpSink.start()
  try {
    const { code, out } = await runDoctor({ AGENT_NAME: 'shop', AGENT_KEY: 'k', AGENT_ENDPOINT: sink.url })
    assert.equal(code, 0, out)
    assert.match(out, /name = "shop" \(env\)/)
    assert.match(out, /key = <redacted> \(env\)/)
    assert.doesNotMatch(out, /"k"/, 'the key is never printed')
    assert.match(out, /accepts reports with this key/)
    assert.equal(sink.received.length, 1, 'one real, empty export')
  } finally {
    await sink.close()
  }
})

test('doctor: each misconfiguration in one line, with its fix, and a non-zero exit', async () => {
  const refusing = `http://127.0.0.1:${await freePort()}`
  const silent = await OtlpSink.start({ mode: 'blackhole' })
  const rejecting = await OtlpSink.start({ mode: 'status' })
  rejecting.status = 401
  try {
    const cases: [Record<string, string>, RegExp][] = [
      [{ AGENT_ENDPOINT: refusing }, /problem: .*no application name/],
      [{ AGENT_NAME: 'shop', AGENT_ENDPOINT: refusing }, /problem: nothing listens at .*: start the collector or fix "endpoint"/],
      [{ AGENT_NAME: 'shop', AGENT_ENDPOINT: silent.url, AGENT_EXPORT_TIMEOUT_MS: '500' }, /problem: .*did not answer within exportTimeoutMs \(500 ms\)/],
      [{ AGENT_NAME: 'shop', AGENT_ENDPOINT: rejecting.url }, /problem: the collector refuses the key \(HTTP 401\): set "key" \(AGENT_KEY\).*none is set now/],
      [{ AGENT_NAME: 'shop', AGENT_ENDPOINT: 'htp://typo' }, /problem: .*config key "endpoint".*expected an http:\/\/ or https:\/\/ URL/],
      [{ AGENT_NAME: 'shop', AGENT_ENDPIONT: refusing }, /problem: .*AGENT_ENDPIONT \(did you mean AGENT_ENDPOINT\?\)/],
      [{ AGENT_NAME: 'shop', AGENT_ENDPOINT: rejecting.url.replace('http:', 'https:') }, /problem: .*does not speak TLS: use http:\/\//],
    ]
    for (const [env, expected] of cases) {
      const { code, out } = await runDoctor(env)
      assert.equal(code, 1, `${JSON.stringify(env)}:\n${out}`)
      assert.match(out, expected, `${JSON.stringify(env)}:\n${out}`)
    }
  } finally {
    await silent.close()
    await rejecting.close()
  }
})

test('doctor -- <command>: names each Node process of the app that runs without the agent, with the fix', async () => {
  const sink = await OtlpSink.start()
  const app = fileURLToPath(new URL('./fixtures/late-agent-cluster.cjs', import.meta.url))
  try {
    const env = { AGENT_NAME: 'shop', AGENT_ENDPOINT: sink.url }
    const late = await runDoctor({ ...env, APP_AGENT_LOADED: 'late' }, ['--seconds', '3', '--', process.execPath, app])
    assert.equal(late.code, 1, late.out)
    const missing = late.out.split('\n').filter((l) => /problem: pid \d+ .* runs without the agent: its parent has one/.test(l))
    assert.equal(missing.length, 2, `both workers named:\n${late.out}`)
    assert.match(late.out, /load the agent first .*before cluster\.fork/)
    assert.match(late.out, /agent \w+ as (primary|standalone)/, "the primary runs it")

    const first = await runDoctor({ ...env, APP_AGENT_LOADED: 'first' }, ['--seconds', '3', '--', process.execPath, app])
    assert.equal(first.code, 0, first.out)
    assert.equal(first.out.split('\n').filter((l) => / as worker$/.test(l)).length, 2, first.out)
    assert.match(first.out, /every Node process of the app runs the agent/)
  } finally {
    await sink.close()
  }
})

test('doctor -- <command>, interrupted: the app it started is ended and its notes folder removed, then it exits by the signal', async () => {
  const temp = mkdtempSync(join(tmp, 'tmpdir-'))
  const pidFile = join(tmp, `app-pid-${process.pid}`)
  const app = `require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000)`
  const doctor = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), cli, 'doctor', '--seconds', '60', '--', process.execPath, '-e', app], {
    env: { PATH: process.env.PATH, TMPDIR: temp, AGENT_NAME: 'shop', AGENT_KEY: 'k', AGENT_ENDPOINT: 'http://127.0.0.1:9' },
    cwd: mkdtempSync(join(tmp, 'app-')),
    stdio: 'ignore',
  })
  const exited = new Promise<NodeJS.Signals | null>((resolve) => doctor.once('exit', (_code, sig) => resolve(sig)))
  try {
    for (let i = 0; i < 200 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100))
    assert.ok(existsSync(pidFile), 'the app started under the doctor')
    assert.equal(readdirSync(temp).filter((f) => f.startsWith('agent-doctor-')).length, 1, 'its notes folder exists while it watches')
    doctor.kill('SIGINT')
    assert.equal(await exited, 'SIGINT')
    assert.deepEqual(readdirSync(temp).filter((f) => f.startsWith('agent-doctor-')), [])
    const appPid = Number(readFileSync(pidFile, 'utf8'))
    let gone = false
    for (let i = 0; i < 50 && !gone; i++) {
      try {
        process.kill(appPid, 0)
        await new Promise((r) => setTimeout(r, 100))
      } catch {
        gone = true
      }
    }
    assert.ok(gone, 'the app the doctor started is ended')
  } finally {
    if (doctor.exitCode === null && doctor.signalCode === null) doctor.kill('SIGKILL')
    await exited
    // Where the doctor failed to, the app it started is ended here, by the pid it wrote.
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
})
