import { lookup } from 'node:dns/promises'
import { performance } from 'node:perf_hooks'
import { CONFIG_KEYS, describeValue, loadConfig, type AgentConfig } from './config.js'
import { contentType, readCa } from './exporter.js'
import { frameworkInfo } from './framework-info.js'
import { PLAIN_HTTP, send, SendError } from './http-transport.js'
import { Logger } from './logger.js'
import { checkPreconditions } from './preconditions.js'
import { detectRole } from './process-identity.js'

export interface DoctorInput {
  env?: NodeJS.ProcessEnv
  cwd?: string
}

export interface DoctorReport {
  lines: string[]
  /** Whether an agent started with this configuration here would report. */
  ok: boolean
}

/** Frameworks and job libraries an integration exists for, looked up from the app's folder. */
const FRAMEWORKS = ['express', 'fastify', '@nestjs/core', 'bullmq']

/**
 * Says, one line each, what an agent started here with this environment would
 * do and why: the configuration and where each value came from, the
 * preconditions, the role, the frameworks found, and whether the endpoint
 * resolves, connects, answers in time and accepts the key (one real, empty
 * export). Every problem comes with its fix. Never throws.
 */
export async function doctor(input: DoctorInput = {}): Promise<DoctorReport> {
  const env = input.env ?? process.env
  const lines: string[] = []
  let ok = true
  const problem = (text: string) => {
    ok = false
    lines.push(`  problem: ${text}`)
  }

  const loaded = loadConfig({ env, ...(input.cwd ? { cwd: input.cwd } : {}) })
  const config = loaded.config
  lines.push('configuration (value, and where it came from):')
  for (const key of CONFIG_KEYS) lines.push(`  ${key} = ${describeValue(key, config[key])} (${loaded.sources[key]})`)
  const said: string[] = []
  const logger = new Logger('debug', (line) => said.push(line.replace(/^\[agent\] \w+: /, '').replace(/ \(pid \d+\)\n$/, '')))
  for (const report of loaded.problems) report(logger)
  for (const text of said) problem(text)

  const role = detectRole(env)
  lines.push(`process role here: ${role}`)
  const found = FRAMEWORKS.map((name) => frameworkInfo(name)).filter((f) => f.version !== 'unknown')
  lines.push(`frameworks found: ${found.length > 0 ? found.map((f) => `${f.name} ${f.version}`).join(', ') : 'none (a plain node:http server is measured by path)'}`)

  // As an app's own process would be checked: a script, not this command-line tool.
  const verdict = checkPreconditions({ config, started: false, role, argv: [process.execPath, 'app.js'], ...(found[0] ? { frameworkDetected: found[0].name } : {}) })
  if (verdict.start) lines.push(`preconditions: met (${verdict.why})`)
  else if (verdict.standby) lines.push(`preconditions: met; the agent stands by until the first request (${verdict.reason})`)
  else problem(`the agent would not start: ${verdict.reason}`)

  if (config.endpoint) await checkEndpoint(config, problem, (line) => lines.push(line))
  lines.push(ok ? 'result: an agent started with this configuration reports.' : 'result: fix the problems above; an agent started like this does not report.')
  return { lines, ok }
}

async function checkEndpoint(config: AgentConfig, problem: (text: string) => void, say: (line: string) => void): Promise<void> {
  const base = new URL(config.endpoint)
  say(`endpoint ${describeValue('endpoint', config.endpoint)}:`)
  try {
    const started = performance.now()
    const address = await withTimeout(lookup(base.hostname.replace(/^\[|\]$/g, '')), config.connectTimeoutMs)
    say(`  resolves: ${base.hostname} is ${address.address} (${Math.round(performance.now() - started)} ms)`)
  } catch (err) {
    problem(`${base.hostname} does not resolve (${(err as Error).message}); check "endpoint".`)
    return
  }
  const headers: Record<string, string> = { ...config.headers, 'content-type': contentType(config.protocol), 'user-agent': 'agent-node doctor' }
  if (config.key) headers[config.keyHeader.toLowerCase()] = config.key
  const ca = readCa(config.caFile, new Logger('silent'))
  const url = new URL(`${config.endpoint}/v1/metrics`)
  const started = performance.now()
  try {
    // Referenced: this command waits for the answer (an agent's export never keeps an app alive).
    // An empty report in the agent's protocol: an empty protobuf message has no bytes.
    const empty = config.protocol === 'http/protobuf' ? Buffer.alloc(0) : Buffer.from('{"resourceMetrics":[]}')
    const result = await send(url, empty, { connectTimeoutMs: config.connectTimeoutMs, totalTimeoutMs: config.exportTimeoutMs, headers, ...(ca ? { ca } : {}) }, true).done
    const ms = Math.round(performance.now() - started)
    say(`  connects and answers: HTTP ${result.status} in ${ms} ms`)
    if (result.status >= 200 && result.status < 300) say(`  accepts reports${config.key ? ' with this key' : ' without a key'}`)
    else if (result.status === 401 || result.status === 403) problem(`the collector refuses the key (HTTP ${result.status}): set "key" (AGENT_KEY) to the key it expects${config.key ? '' : '; none is set now'}.`)
    else if (result.status === 404 || result.status === 405) problem(`no OTLP/HTTP receiver at ${url.origin}${url.pathname} (HTTP ${result.status}): "endpoint" is the receiver's base URL, such as http://host:4318.`)
    else problem(`the collector answers HTTP ${result.status} to an empty report${result.body ? ` (${result.body.slice(0, 120)})` : ''}; check the collector.`)
  } catch (err) {
    const e = err instanceof SendError ? err : new SendError('network', (err as Error).message)
    if (e.code === 'ECONNREFUSED') problem(`nothing listens at ${url.origin}: start the collector or fix "endpoint".`)
    else if (e.kind === 'connect-timeout') problem(`no connection to ${url.origin} within connectTimeoutMs (${config.connectTimeoutMs} ms): a firewall, or the wrong host.`)
    else if (e.kind === 'timeout') problem(`${url.origin} accepted the connection but did not answer within exportTimeoutMs (${config.exportTimeoutMs} ms): is it an OTLP/HTTP receiver?`)
    else if (e.kind === 'tls') problem(`TLS to ${url.origin} failed (${e.code ?? e.message}): set "caFile" to the CA that signed the collector's certificate.`)
    else if (e.code === PLAIN_HTTP) problem(`${url.origin} does not speak TLS: use http:// in "endpoint".`)
    else problem(`the report to ${url.origin} failed: ${e.code ? `${e.code}: ` : ''}${e.message}.`)
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([promise, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer))
}
