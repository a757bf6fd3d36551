import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { LOG_LEVELS, type LogLevel, type Logger } from './logger.js'

export interface AgentConfig {
  /** Master switch: false keeps the agent from starting at all. */
  monitor: boolean
  /** The key sent to the collector with every export. */
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
}

type Kind = 'boolean' | 'string' | 'url' | 'int' | 'list' | 'level'

interface KeySpec<K extends keyof AgentConfig> {
  kind: Kind
  default: AgentConfig[K]
  min?: number
  max?: number
  secret?: boolean
}

const ms = (def: number, min: number, max: number): KeySpec<any> => ({ kind: 'int', default: def, min, max })

export const CONFIG_SPEC: { [K in keyof AgentConfig]: KeySpec<K> } = {
  monitor: { kind: 'boolean', default: true },
  key: { kind: 'string', default: '', secret: true },
  name: { kind: 'string', default: '' },
  endpoint: { kind: 'url', default: 'http://127.0.0.1:4318' },
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
}

export const CONFIG_KEYS = Object.keys(CONFIG_SPEC) as (keyof AgentConfig)[]

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
  }
}

function show(spec: KeySpec<any>, value: unknown): string {
  if (spec.secret) return '<redacted>'
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
  const env = input.env ?? process.env
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
        problems.push((l) => l.reportOnce(`config-unknown:${key}`, 'warn', 'AGENT_CONFIG_UNKNOWN_KEY', key, label))
        continue
      }
      const value = parse(spec, raw)
      if (value === invalid) {
        const using = `${show(spec, config[key])} (from ${sources[key as keyof AgentConfig]})`
        const where = source === 'env' ? `the environment (${envName(key)})` : label
        problems.push((l) => l.report('warn', 'AGENT_CONFIG_VALUE', key, show(spec, raw), where, expected(spec), using))
        continue
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

  const envLayer: Record<string, unknown> = {}
  for (const key of CONFIG_KEYS) {
    const raw = env[envName(key)]
    if (raw !== undefined) envLayer[key] = raw
  }
  apply(envLayer, 'env', 'the environment')

  if (input.options) apply(input.options as Record<string, unknown>, 'code', 'options passed in code')

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
