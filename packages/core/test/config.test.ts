import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CONFIG_KEYS, CONFIG_SPEC, envName, loadConfig } from '../src/config.ts'
import { Logger } from '../src/logger.ts'

const tmp = mkdtempSync(join(tmpdir(), 'agent-config-'))
after(() => rmSync(tmp, { recursive: true, force: true }))
const emptyDir = () => mkdtempSync(join(tmp, 'case-'))

function problems(loaded: ReturnType<typeof loadConfig>): string[] {
  const lines: string[] = []
  const logger = new Logger('debug', (l) => lines.push(l))
  for (const p of loaded.problems) p(logger)
  return lines
}

/** A good and a bad value for every key, as they would be written in code or a file. */
const samples: Record<string, { good: unknown; bad: unknown; envGood: string }> = {
  monitor: { good: false, bad: 'maybe', envGood: 'on' },
  key: { good: 'secret-key', bad: 42, envGood: 'env-key' },
  name: { good: 'shop', bad: ['x'], envGood: 'env-shop' },
  endpoint: { good: 'https://otel.example:4318', bad: 'ftp://nope', envGood: 'http://127.0.0.1:9999' },
  logLevel: { good: 'debug', bad: 'loud', envGood: 'warn' },
  errorsEnabled: { good: false, bad: 3, envGood: 'true' },
  flushIntervalMs: { good: 5000, bad: 10, envGood: '2000' },
  connectTimeoutMs: { good: 500, bad: -1, envGood: '700' },
  exportTimeoutMs: { good: 3000, bad: 1.5, envGood: '4000' },
  shutdownTimeoutMs: { good: 800, bad: 'soon', envGood: '900' },
  maxQueue: { good: 10, bad: 0, envGood: '20' },
  maxQueueBytes: { good: 65536, bad: 1, envGood: '131072' },
  ignorePaths: { good: ['/health'], bad: 42, envGood: '/a,/b' },
  instrumentWorkerThreads: { good: true, bad: 'yes please', envGood: 'false' },
  slowRequestMs: { good: 100, bad: null, envGood: '200' },
  maxEndpoints: { good: 50, bad: 1e9, envGood: '60' },
  sensitiveKeys: { good: ['pin'], bad: [1, 2], envGood: 'pin,otp' },
  keyHeader: { good: 'authorization', bad: false, envGood: 'x-key' },
  caFile: { good: '/etc/ca.pem', bad: {}, envGood: '/tmp/ca.pem' },
  compressMinBytes: { good: 0, bad: 'big', envGood: '2048' },
  forceStart: { good: true, bad: 'force', envGood: '0' },
  headers: { good: { 'x-tenant': 'a' }, bad: { n: 1 }, envGood: 'x-tenant=b,authorization=Bearer%20t' },
  resourceAttributes: { good: { 'deployment.environment': 'prod' }, bad: 'env', envGood: 'deployment.environment=staging' },
  temporality: { good: 'cumulative', bad: 'sometimes', envGood: 'delta' },
  nPlusOneThreshold: { good: 3, bad: 1, envGood: '8' },
  protocol: { good: 'http/protobuf', bad: 'grpc', envGood: 'http/json' },
}

test('every config key has a sample here', () => {
  assert.deepEqual(Object.keys(samples).sort(), [...CONFIG_KEYS].sort())
})

for (const key of CONFIG_KEYS) {
  const s = samples[key]!
  test(`config ${key}: good value in code is taken`, () => {
    const loaded = loadConfig({ options: { [key]: s.good }, env: {}, cwd: emptyDir() })
    assert.deepEqual(loaded.config[key], key === 'endpoint' ? String(s.good) : s.good)
    assert.equal(loaded.sources[key], 'code')
    assert.deepEqual(problems(loaded), [])
  })

  test(`config ${key}: bad value is reported once, naming key and expectation, and the default stands`, () => {
    const loaded = loadConfig({ options: { [key]: s.bad }, env: {}, cwd: emptyDir() })
    // An invalid endpoint never falls back to another address: it is left empty and nothing is exported.
    assert.deepEqual(loaded.config[key], key === 'endpoint' ? '' : CONFIG_SPEC[key].default)
    const lines = problems(loaded)
    assert.equal(lines.length, 1)
    assert.match(lines[0]!, new RegExp(`AGENT_CONFIG_VALUE: config key "${key}"`))
    assert.match(lines[0]!, /expected /)
    // The line ends with the pid, which may hold the digits: only the rest is looked at.
    if (key === 'key') assert.doesNotMatch(lines[0]!.replace(/\(pid \d+\)\s*$/, ''), /42/, 'the key value is never logged')
  })

  test(`config ${key}: env over file over default`, () => {
    const dir = emptyDir()
    writeFileSync(join(dir, 'agent.config.json'), JSON.stringify({ [key]: s.good }))
    const fromFile = loadConfig({ env: {}, cwd: dir })
    assert.equal(fromFile.sources[key], 'file')
    const fromEnv = loadConfig({ env: { [envName(key)]: s.envGood }, cwd: dir })
    assert.equal(fromEnv.sources[key], 'env')
    assert.notDeepEqual(fromEnv.config[key], fromFile.config[key])
    const fromCode = loadConfig({ env: { [envName(key)]: s.envGood }, cwd: dir, options: { [key]: s.good } })
    assert.equal(fromCode.sources[key], 'code')
  })
}

test('env values are coerced: numbers, booleans, lists', () => {
  const { config } = loadConfig({ env: { AGENT_FLUSH_INTERVAL_MS: '2500', AGENT_MONITOR: 'off', AGENT_IGNORE_PATHS: '/health, /ready' }, cwd: emptyDir() })
  assert.equal(config.flushIntervalMs, 2500)
  assert.equal(config.monitor, false)
  assert.deepEqual(config.ignorePaths, ['/health', '/ready'])
})

test('a bad env value keeps the file value, and says where it came from', () => {
  const dir = emptyDir()
  writeFileSync(join(dir, 'agent.config.json'), JSON.stringify({ flushIntervalMs: 3000 }))
  const loaded = loadConfig({ env: { AGENT_FLUSH_INTERVAL_MS: 'often' }, cwd: dir })
  assert.equal(loaded.config.flushIntervalMs, 3000)
  const [line] = problems(loaded)
  assert.match(line!, /AGENT_FLUSH_INTERVAL_MS/)
  assert.match(line!, /stays 3000 \(from file\)/)
})

test('a malformed config file is reported and ignored', () => {
  const dir = emptyDir()
  writeFileSync(join(dir, 'agent.config.json'), '{ "name": "x", ')
  const loaded = loadConfig({ env: {}, cwd: dir })
  assert.equal(loaded.config.name, '')
  const lines = problems(loaded)
  assert.equal(lines.length, 1)
  assert.match(lines[0]!, /AGENT_CONFIG_FILE: .*malformed JSON/)
})

test('AGENT_CONFIG_FILE names the file; a missing named file is reported', () => {
  const dir = emptyDir()
  writeFileSync(join(dir, 'custom.json'), JSON.stringify({ name: 'from-custom' }))
  assert.equal(loadConfig({ env: { AGENT_CONFIG_FILE: 'custom.json' }, cwd: dir }).config.name, 'from-custom')
  const missing = loadConfig({ env: { AGENT_CONFIG_FILE: 'nope.json' }, cwd: dir })
  assert.match(problems(missing)[0]!, /nope\.json could not be used \(ENOENT\)/)
  assert.deepEqual(problems(loadConfig({ env: {}, cwd: dir })), [], 'a missing default file is fine')
})

test('a config file that is not an object, and unknown keys, are reported', () => {
  const dir = emptyDir()
  writeFileSync(join(dir, 'agent.config.json'), '[1,2]')
  assert.match(problems(loadConfig({ env: {}, cwd: dir }))[0]!, /one JSON object/)
  const unknown = loadConfig({ options: { flushIntervalMS: 5 }, env: {}, cwd: emptyDir() })
  assert.match(problems(unknown)[0]!, /unknown config key "flushIntervalMS"/)
})

test('an unknown AGENT_ variable or key is named with the closest known one', () => {
  const lines = problems(loadConfig({ env: { AGENT_ENDPIONT: 'http://x', AGENT_FLUSH_INTERVAL: '5000', AGENT_COMPLETELY_ELSE: '1' }, cwd: emptyDir() }))
  assert.equal(lines.length, 1, 'one line for all of them')
  assert.match(lines[0]!, /AGENT_CONFIG_UNKNOWN_ENV: .*AGENT_ENDPIONT \(did you mean AGENT_ENDPOINT\?\)/)
  assert.match(lines[0]!, /AGENT_FLUSH_INTERVAL \(did you mean AGENT_FLUSH_INTERVAL_MS\?\)/)
  assert.match(lines[0]!, /AGENT_COMPLETELY_ELSE[,;]/)
  assert.match(problems(loadConfig({ options: { flushIntervalMS: 5 }, env: {}, cwd: emptyDir() }))[0]!, /Did you mean flushIntervalMs\?/)
  assert.deepEqual(problems(loadConfig({ env: { AGENT_CONFIG_FILE: 'x.json', AGENT_PROCESS_ROLE: 'child' }, cwd: emptyDir() })).filter((l) => l.includes('unknown')), [], 'the agent\'s own variables are known')
})

test('an endpoint given as a signal URL is cut to its base, and said', () => {
  const loaded = loadConfig({ env: { AGENT_ENDPOINT: 'http://collector:4318/v1/metrics' }, cwd: emptyDir() })
  assert.equal(loaded.config.endpoint, 'http://collector:4318')
  assert.match(problems(loaded)[0]!, /AGENT_ENDPOINT_PATH: .*uses "http:\/\/collector:4318"/)
})

test('credentials in an endpoint are never printed', () => {
  const bad = problems(loadConfig({ env: { AGENT_ENDPOINT: 'ftp://user:s3cret-pass@host' }, cwd: emptyDir() }))
  assert.equal(bad.length, 1)
  assert.doesNotMatch(bad[0]!, /s3cret-pass/)
  assert.match(bad[0]!, /\*\*\*/)
})

test('the OpenTelemetry variables are read beneath the AGENT_* ones', () => {
  const env = {
    OTEL_SERVICE_NAME: 'otel-shop', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318', OTEL_EXPORTER_OTLP_HEADERS: 'x-api=abc%3D1,x-two=2',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,service.version=1.2', OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Cumulative',
  }
  const { config } = loadConfig({ env, cwd: emptyDir() })
  assert.equal(config.name, 'otel-shop')
  assert.equal(config.endpoint, 'http://otel:4318')
  assert.deepEqual(config.headers, { 'x-api': 'abc=1', 'x-two': '2' })
  assert.deepEqual(config.resourceAttributes, { 'deployment.environment': 'prod', 'service.version': '1.2' })
  assert.equal(config.temporality, 'cumulative')
  const both = loadConfig({ env: { ...env, AGENT_NAME: 'agent-shop', AGENT_ENDPOINT: 'http://agent:4318' }, cwd: emptyDir() }).config
  assert.equal(both.name, 'agent-shop', 'an AGENT_* value wins')
  assert.equal(both.endpoint, 'http://agent:4318')
  assert.equal(loadConfig({ env: { OTEL_SDK_DISABLED: 'true' }, cwd: emptyDir() }).config.monitor, false)
  assert.equal(loadConfig({ env: { OTEL_SDK_DISABLED: 'false' }, cwd: emptyDir() }).config.monitor, true)
  assert.equal(loadConfig({ env: { OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' }, cwd: emptyDir() }).config.name, 'from-attrs')
  const bad = problems(loadConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'nope' }, cwd: emptyDir() }))
  assert.match(bad[0]!, /OTEL_EXPORTER_OTLP_ENDPOINT/)
})

test('the protocol: http/protobuf from OTEL_EXPORTER_OTLP_PROTOCOL, and grpc, which the agent does not speak, named with what it keeps', () => {
  assert.equal(loadConfig({ env: {}, cwd: emptyDir() }).config.protocol, 'http/json')
  assert.equal(loadConfig({ env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }, cwd: emptyDir() }).config.protocol, 'http/protobuf')
  assert.equal(loadConfig({ env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', AGENT_PROTOCOL: 'http/json' }, cwd: emptyDir() }).config.protocol, 'http/json')
  const grpc = loadConfig({ env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, cwd: emptyDir() })
  assert.equal(grpc.config.protocol, 'http/json')
  assert.match(problems(grpc)[0]!, /"protocol" from the environment \(OTEL_EXPORTER_OTLP_PROTOCOL\) has value "grpc"; expected http\/json or http\/protobuf \(grpc is not supported\)/)
})
