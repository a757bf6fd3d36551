// One registry of every message the agent can log about a problem. Each entry
// names the cause and the fix; codes are stable so users can search for them,
// and each is listed in the README (a test checks it).
export const messages = {
  AGENT_CONFIG_VALUE: (key: string, value: string, source: string, expected: string, using: string) =>
    `config key "${key}" from ${source} has value ${value}; expected ${expected}. "${key}" stays ${using}; fix the value there.`,
  AGENT_CONFIG_UNKNOWN_KEY: (key: string, source: string, closest?: string) =>
    `unknown config key "${key}" in ${source}; it is ignored.${closest ? ` Did you mean ${closest}?` : ''} See the configuration table in the @agent README for the valid keys.`,
  AGENT_CONFIG_UNKNOWN_ENV: (names: string) =>
    `unknown variables in the environment: ${names}; they are ignored. See the configuration table in the @agent README for the valid ones.`,
  AGENT_ENDPOINT_PATH: (given: string, source: string, using: string) =>
    `"endpoint" from ${source} is ${given}, a signal's own URL; the agent appends /v1/metrics, /v1/traces and /v1/logs to the base itself, so it uses ${using}. Give the base URL there.`,
  AGENT_OPTIONS_TOO_LATE: (keys: string[]) =>
    `options given in code for ${keys.map((k) => `"${k}"`).join(', ')} came after the agent started (a register flag started it first); they take effect at the next start. Put them in the environment (AGENT_*) or a config file, which the flag reads.`,
  AGENT_CONFIG_FILE: (file: string, reason: string) =>
    `config file ${file} could not be used (${reason}); it is ignored and the agent runs on defaults, environment and code options. Fix the file or unset AGENT_CONFIG_FILE.`,
  AGENT_NOT_STARTED: (reason: string) => `agent not started: ${reason}`,
  AGENT_STANDBY: (reason: string) =>
    `agent standing by: ${reason}; it starts on the first HTTP request this process serves, the first BullMQ worker it creates, or the first job it records.`,
  AGENT_DUPLICATE_COPY: (a: string, b: string) =>
    `two copies of @agent/core are loaded in this process (${a} and ${b}); they share one agent. Deduplicate the dependency to save memory.`,
  AGENT_RESOURCE_FAILED: (what: string, reason: string) =>
    `could not create ${what} (${reason}); the agent runs on without it. This usually means the process is at a resource ceiling (pids, threads, file descriptors).`,
  AGENT_TASK_FAILED: (what: string, reason: string) =>
    `background task ${what} failed (${reason}); the agent keeps running and tries again next interval.`,
  AGENT_EXPORT_FAILED: (url: string, reason: string, fix: string) =>
    `export to ${url} failed: ${reason}. ${fix} Data is kept in a bounded queue and retried; further failures of this kind are not logged until an export succeeds.`,
  AGENT_EXPORT_REJECTED: (url: string, status: number, body: string) =>
    `the collector at ${url} rejected a payload with HTTP ${status}${body ? ` (${body})` : ''}; it is dropped and not retried. Check the endpoint and the key.`,
  AGENT_EXPORT_RECOVERED: (url: string) => `export to ${url} works again.`,
  AGENT_QUEUE_DROPPED: (count: number, limit: string) =>
    `export queue full (${limit}): dropped ${count} oldest payload(s) so memory stays bounded. Further drops are counted and reported with the next successful export, and not logged again until the queue has drained.`,
  AGENT_SHUTDOWN_TIMEOUT: (ms: number, pending: number, lastFailure: string | undefined) =>
    `final delivery did not finish within shutdownTimeoutMs (${ms} ms); ${pending} payload(s) were not delivered. ${lastFailure ? `The last export failed: ${lastFailure.replace(/\.$/, '')}.` : 'Raise shutdownTimeoutMs or check the collector.'}`,
  AGENT_WORKER_LOST: (workerId: number, pid: number, how: string, seconds: number) =>
    `cluster worker ${workerId} (pid ${pid}) exited (${how}) without handing over its current interval; the requests it served in its last ${seconds.toFixed(1)} s are lost (reported as agent.cluster.lost_seconds). A graceful stop (disconnect, SIGTERM) hands them over.`,
  AGENT_INSTALL_FAILED: (reason: string) =>
    `install failed (${reason}); the app runs on without monitoring. This is a bug of the agent: please report it with this line.`,
  AGENT_TLS: (url: string, reason: string) =>
    `TLS to ${url} failed: ${reason}. The certificate is not trusted; set "caFile" to the CA that signed the collector's certificate. Certificates are never left unverified.`,
} as const

export type MessageCode = keyof typeof messages
