import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { LOG_LEVELS, type LogLevel, type Logger } from './logger.js'

export interface AgentConfig {
  /** Master switch: false keeps the agent from starting at all. */
  monitor: boolean
  /** The key sent to the collector with every export, in `keyHeader`; none when empty. */
  key: string
  /** The application's name (OpenTelemetry `service.name`). */
  name: string
  /** OTLP/HTTP base URL; `/v1/metrics`, `/v1/traces`, `/v1/logs` are appended. */
  endpoint: string
  logLevel: LogLevel
  errorsEnabled: boolean
  flushIntervalMs: number
  connectTimeoutMs: number
  exportTimeoutMs: number
  shutdownTimeoutMs: number
  maxQueue: number
  maxQueueBytes: number
  ignorePaths: string[]
  instrumentWorkerThreads: boolean
  slowRequestMs: number
  maxEndpoints: number
  sensitiveKeys: string[]
  keyHeader: string
  caFile: string
  compressMinBytes: number
  forceStart: boolean
  /** More headers sent with every export (OTEL_EXPORTER_OTLP_HEADERS). */
  headers: Record<string, string>
  /** More resource attributes (OTEL_RESOURCE_ATTRIBUTES); the agent's own identity keys are never replaced. */
  resourceAttributes: Record<string, string>
  /** Aggregation temporality of the request metrics: delta (each interval alone) or cumulative (since start). */
  temporality: 'delta' | 'cumulative'
  /** A request that runs one statement shape this many times or more is flagged as an N+1 pattern. */
  nPlusOneThreshold: number
  /** How payloads are encoded: OTLP/HTTP JSON or protobuf (OTLP's default protocol; smaller and cheaper to encode). */
  protocol: OtlpProtocol
}

/** The OTLP/HTTP encodings, named as OTEL_EXPORTER_OTLP_PROTOCOL names them. */
export type OtlpProtocol = 'http/json' | 'http/protobuf'

type Kind = 'boolean' | 'string' | 'url' | 'int' | 'list' | 'level' | 'map' | 'temporality' | 'protocol'

interface KeySpec<K extends keyof AgentConfig> {
  kind: Kind
  default: AgentConfig[K]
  min?: number
  max?: number
  secret?: boolean
  /** The OpenTelemetry variable read where the AGENT_* one is not set. */
  otelEnv?: string
  /**
   * An invalid value leaves the key empty instead of at the layer below: for
   * the endpoint, where falling back would send the data and the key to an
   * address nobody chose.
   */
  emptyWhenInvalid?: boolean
}

const ms = (def: number, min: number, max: number): KeySpec<any> => ({ kind: 'int', default: def, min, max })

export const CONFIG_SPEC: { [K in keyof AgentConfig]: KeySpec<K> } = {
  monitor: { kind: 'boolean', default: true, otelEnv: 'OTEL_SDK_DISABLED' },
  key: { kind: 'string', default: '', secret: true },
  name: { kind: 'string', default: '', otelEnv: 'OTEL_SERVICE_NAME' },
  endpoint: { kind: 'url', default: 'http://127.0.0.1:4318', emptyWhenInvalid: true, otelEnv: 'OTEL_EXPORTER_OTLP_ENDPOINT' },
  logLevel: { kind: 'level', default: 'info' },
  errorsEnabled: { kind: 'boolean', default: true },
  flushIntervalMs: ms(60_000, 1_000, 3_600_000),
  connectTimeoutMs: ms(1_000, 10, 60_000),
  exportTimeoutMs: ms(5_000, 10, 120_000),
  shutdownTimeoutMs: ms(500, 0, 60_000),
  maxQueue: ms(100, 1, 100_000),
  maxQueueBytes: ms(16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  ignorePaths: { kind: 'list', default: [] },
  instrumentWorkerThreads: { kind: 'boolean', default: false },
  slowRequestMs: ms(500, 0, 3_600_000),
  maxEndpoints: ms(500, 1, 100_000),
  sensitiveKeys: { kind: 'list', default: ['password', 'passwd', 'secret', 'token', 'key', 'auth', 'credential', 'session', 'cookie', 'csrf', 'ssn', 'card'] },
  keyHeader: { kind: 'string', default: 'x-agent-key' },
  caFile: { kind: 'string', default: '' },
  compressMinBytes: ms(1024, 0, 1024 * 1024 * 1024),
  forceStart: { kind: 'boolean', default: false },
  headers: { kind: 'map', default: {}, secret: true, otelEnv: 'OTEL_EXPORTER_OTLP_HEADERS' },
  resourceAttributes: { kind: 'map', default: {}, otelEnv: 'OTEL_RESOURCE_ATTRIBUTES' },
  temporality: { kind: 'temporality', default: 'delta', otelEnv: 'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE' },
  nPlusOneThreshold: ms(5, 2, 100_000),
  // One encoding for all three signals: the per-signal OTEL_EXPORTER_OTLP_*_PROTOCOL variables are not read.
  protocol: { kind: 'protocol', default: 'http/json', otelEnv: 'OTEL_EXPORTER_OTLP_PROTOCOL' },
}

export const CONFIG_KEYS = Object.keys(CONFIG_SPEC) as (keyof AgentConfig)[]

/** Every AGENT_* variable the agent reads: the keys', the config file's, and what a parent hands its children. */
const KNOWN_ENV = new Set([...CONFIG_KEYS.map(envName), 'AGENT_CONFIG_FILE', 'AGENT_DOCTOR_FILE', 'AGENT_INHERITED_OPTIONS', 'AGENT_PARENT_INSTANCE_ID', 'AGENT_PROCESS_ROLE'])

/** The known name nearest to a misspelled one (edit distance), if any is near enough to be meant. */
function closestName(name: string, known: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of known) {
    const d = editDistance(name, candidate)
    if (d < bestDistance) [best, bestDistance] = [candidate, d]
  }
  // A prefix counts too: AGENT_FLUSH_INTERVAL for AGENT_FLUSH_INTERVAL_MS.
  const prefixed = known.find((k) => k.startsWith(name) || name.startsWith(k))
  return prefixed ?? (bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined)
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    previous = current
  }
  return previous[b.length]!
}

/** `flushIntervalMs` -> `AGENT_FLUSH_INTERVAL_MS` */
export function envName(key: string): string {
  return 'AGENT_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()
}

function expected(spec: KeySpec<any>): string {
  switch (spec.kind) {
    case 'boolean': return 'true or false'
    case 'string': return 'a string'
    case 'url': return 'an http:// or https:// URL'
    case 'int': return `a whole number from ${spec.min} to ${spec.max}`
    case 'list': return 'a list of strings (comma-separated in the environment)'
    case 'level': return `one of ${LOG_LEVELS.join(', ')}`
    case 'map': return 'an object of strings (key=value pairs, comma-separated, in the environment)'
    case 'temporality': return 'delta or cumulative'
    case 'protocol': return 'http/json or http/protobuf (grpc is not supported)'
  }
}

const invalid = Symbol('invalid')

/** Parses one value; strings come from the environment and are coerced. */
function parse(spec: KeySpec<any>, raw: unknown): unknown {
  const fromString = typeof raw === 'string'
  switch (spec.kind) {
    case 'boolean':
      if (typeof raw === 'boolean') return raw
      if (fromString && /^(true|1|yes|on)$/i.test(raw.trim())) return true
      if (fromString && /^(false|0|no|off)$/i.test(raw.trim())) return false
      return invalid
    case 'string':
      return typeof raw === 'string' ? raw : invalid
    case 'url': {
      if (typeof raw !== 'string') return invalid
      try {
        const url = new URL(raw)
        if (url.protocol !== 'http:' && url.protocol !== 'https:') return invalid
        return raw.replace(/\/+$/, '')
      } catch {
        return invalid
      }
    }
    case 'int': {
      const n = fromString && raw.trim() !== '' ? Number(raw) : raw
      if (typeof n !== 'number' || !Number.isInteger(n)) return invalid
      if (n < spec.min! || n > spec.max!) return invalid
      return n
    }
    case 'list':
      if (fromString) return raw.split(',').map((s) => s.trim()).filter(Boolean)
      if (Array.isArray(raw) && raw.every((s) => typeof s === 'string')) return [...raw]
      return invalid
    case 'level':
      return typeof raw === 'string' && (LOG_LEVELS as readonly string[]).includes(raw) ? raw : invalid
    case 'map':
      if (fromString) return parsePairs(raw)
      if (raw !== null && typeof raw === 'object' && !Array.isArray(raw) && Object.values(raw).every((v) => typeof v === 'string')) return { ...(raw as Record<string, string>) }
      return invalid
    case 'temporality': {
      const value = typeof raw === 'string' ? raw.trim().toLowerCase() : raw
      // OpenTelemetry's "lowmemory" keeps sums and histograms delta, as this agent does.
      return value === 'delta' || value === 'lowmemory' ? 'delta' : value === 'cumulative' ? 'cumulative' : invalid
    }
    case 'protocol': {
      const value = typeof raw === 'string' ? raw.trim().toLowerCase() : raw
      return value === 'http/json' || value === 'http/protobuf' ? value : invalid
    }
  }
}

/** `k1=v1,k2=v2` with percent-encoded values, as the OpenTelemetry variables write them. */
function parsePairs(raw: string): Record<string, string> | typeof invalid {
  const out: Record<string, string> = {}
  for (const part of raw.split(',')) {
    if (part.trim() === '') continue
    const eq = part.indexOf('=')
    if (eq <= 0) return invalid
    try {
      out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim())
    } catch {
      return invalid
    }
  }
  return out
}

/** A key's value as it may be printed: secrets redacted, credentials out of URLs. */
export function describeValue(key: keyof AgentConfig, value: unknown): string {
  return show(CONFIG_SPEC[key] as KeySpec<any>, value)
}

function show(spec: KeySpec<any>, value: unknown): string {
  if (spec.secret) return value === '' || (typeof value === 'object' && value !== null && Object.keys(value).length === 0) ? '(none)' : '<redacted>'
  if (spec.kind === 'url' && typeof value === 'string') return JSON.stringify(withoutCredentials(value))
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

export interface LoadConfigInput {
  options?: Partial<Record<string, unknown>>
  env?: NodeJS.ProcessEnv
  cwd?: string
}

export interface LoadedConfig {
  config: AgentConfig
  /** Where each key's value came from: default, file, env or code. */
  sources: Record<keyof AgentConfig, 'default' | 'file' | 'env' | 'code'>
  /** Problems found; logged by the caller once its logger has the final level. */
  problems: ((logger: Logger) => void)[]
}

/**
 * Defaults < config file < environment < code options. Each layer is
 * validated on its own: a bad value is reported and the key keeps the value of
 * the layer below. Never throws.
 */
export function loadConfig(input: LoadConfigInput = {}): LoadedConfig {
  const env = input.env ?? processEnv()
  const config = {} as Record<string, unknown>
  const sources = {} as LoadedConfig['sources']
  const problems: LoadedConfig['problems'] = []
  for (const key of CONFIG_KEYS) {
    const def = CONFIG_SPEC[key].default
    config[key] = Array.isArray(def) ? [...def] : def
    sources[key] = 'default'
  }

  const apply = (layer: Record<string, unknown>, source: 'file' | 'env' | 'code', label: string) => {
    for (const [key, raw] of Object.entries(layer)) {
      if (raw === undefined) continue
      const spec = (CONFIG_SPEC as Record<string, KeySpec<any>>)[key]
      if (!spec) {
        const closest = closestName(key, CONFIG_KEYS)
        problems.push((l) => l.reportOnce(`config-unknown:${key}`, 'warn', 'AGENT_CONFIG_UNKNOWN_KEY', key, label, closest))
        continue
      }
      const value = parse(spec, raw)
      const where = source === 'env' ? (label === 'the environment' ? `the environment (${envName(key)})` : `the environment (${(spec as KeySpec<any>).otelEnv})`) : label
      if (value === invalid) {
        if (spec.emptyWhenInvalid) {
          config[key] = ''
          sources[key as keyof AgentConfig] = source
          problems.push((l) => l.report('error', 'AGENT_CONFIG_VALUE', key, show(spec, raw), where, expected(spec), 'empty, and nothing is exported'))
          continue
        }
        const using = `${show(spec, config[key])} (from ${sources[key as keyof AgentConfig]})`
        problems.push((l) => l.report('warn', 'AGENT_CONFIG_VALUE', key, show(spec, raw), where, expected(spec), using))
        continue
      }
      if (key === 'endpoint' && typeof value === 'string') {
        // The agent appends /v1/<signal> itself: a full signal URL would become /v1/metrics/v1/metrics.
        const base = value.replace(/\/v1\/(metrics|traces|logs)$/, '')
        if (base !== value) {
          problems.push((l) => l.report('warn', 'AGENT_ENDPOINT_PATH', show(spec, value), where, show(spec, base)))
          config[key] = base
          sources[key as keyof AgentConfig] = source
          continue
        }
      }
      config[key] = value
      sources[key as keyof AgentConfig] = source
    }
  }

  const file = env.AGENT_CONFIG_FILE
    ? resolve(input.cwd ?? process.cwd(), env.AGENT_CONFIG_FILE)
    : resolve(input.cwd ?? process.cwd(), 'agent.config.json')
  const fileLayer = readConfigFile(file, Boolean(env.AGENT_CONFIG_FILE), problems)
  if (fileLayer) apply(fileLayer, 'file', `config file ${file}`)

  // The OpenTelemetry variables first, so an AGENT_* one wins over them.
  const otelLayer: Record<string, unknown> = {}
  for (const key of CONFIG_KEYS) {
    const name = (CONFIG_SPEC[key] as KeySpec<typeof key>).otelEnv
    const raw = name === undefined ? undefined : env[name]
    if (raw === undefined || raw === '') continue
    // OTEL_SDK_DISABLED=true means monitor=false.
    otelLayer[key] = key === 'monitor' ? String(!/^true$/i.test(raw.trim())) : raw
  }
  apply(otelLayer, 'env', 'the OpenTelemetry environment variables')
  const envLayer: Record<string, unknown> = {}
  for (const key of CONFIG_KEYS) {
    const raw = env[envName(key)]
    if (raw !== undefined) envLayer[key] = raw
  }
  apply(envLayer, 'env', 'the environment')
  // One line for all of them: some CI systems set AGENT_* variables of their own.
  const unknown = Object.keys(env).filter((name) => name.startsWith('AGENT_') && !KNOWN_ENV.has(name)).sort()
  if (unknown.length > 0) {
    const named = unknown.map((name) => {
      const closest = closestName(name, [...KNOWN_ENV])
      return closest ? `${name} (did you mean ${closest}?)` : name
    })
    problems.push((l) => l.reportOnce(`config-unknown-env:${unknown.join(',')}`, 'warn', 'AGENT_CONFIG_UNKNOWN_ENV', named.join(', ')))
  }

  if (input.options) apply(input.options as Record<string, unknown>, 'code', 'options passed in code')
  // As in OpenTelemetry SDKs: service.name among the resource attributes names the service when nothing else does.
  const attrs = config.resourceAttributes as Record<string, string>
  if (!config.name && attrs['service.name']) config.name = attrs['service.name']

  return { config: config as unknown as AgentConfig, sources, problems }
}

function readConfigFile(file: string, named: boolean, problems: LoadedConfig['problems']): Record<string, unknown> | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    // ./agent.config.json is optional; a file named in AGENT_CONFIG_FILE is not.
    if (!named && code === 'ENOENT') return undefined
    problems.push((l) => l.report('warn', 'AGENT_CONFIG_FILE', file, code ?? String(err)))
    return undefined
  }
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      problems.push((l) => l.report('warn', 'AGENT_CONFIG_FILE', file, 'it must hold one JSON object'))
      return undefined
    }
    return parsed as Record<string, unknown>
  } catch (err) {
    problems.push((l) => l.report('warn', 'AGENT_CONFIG_FILE', file, `malformed JSON: ${(err as Error).message}`))
    return undefined
  }
}

/** A URL as it may be printed: a password in it never is. */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url)
    if (!parsed.username && !parsed.password) return url
    parsed.username = parsed.username ? '***' : ''
    parsed.password = parsed.password ? '***' : ''
    return parsed.href.replace(/\/$/, url.endsWith('/') ? '/' : '')
  } catch {
    // Not a URL: whatever stands before an @ may be a credential.
    return url.replace(/\/\/[^/@]*@/, '//***@')
  }
}

/**
 * The environment the app will see. PM2 hands a cluster worker the app's own
 * variables as JSON in `pm2_env` and copies them into process.env only after
 * preloads ran; a preload reads them from there.
 */
function processEnv(): NodeJS.ProcessEnv {
  const pm2 = process.env.pm2_env
  if (pm2 === undefined) return process.env
  try {
    const parsed = JSON.parse(pm2) as Record<string, unknown>
    const env: NodeJS.ProcessEnv = { ...process.env }
    for (const [name, value] of Object.entries(parsed)) if (typeof value === 'string') env[name] = value
    return env
  } catch {
    return process.env
  }
}
