import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export interface ExitSend {
  /** Each payload's full URL, body and own headers. */
  items: { url: string; body: Buffer; headers?: Record<string, string> }[]
  headers: Record<string, string>
  ca?: Buffer
  timeoutMs: number
}

/**
 * At `process.exit()` no async work runs any more: the payloads are sent by a
 * short-lived child process (exit-sender-child.cjs) that this call waits for,
 * killed at `timeoutMs`. True when every payload got a 2xx. Never throws: at
 * a pids ceiling the child cannot start, and false is the answer.
 */
export function sendAtExit({ items, headers, ca, timeoutMs }: ExitSend): boolean {
  if (items.length === 0) return true
  if (timeoutMs <= 0) return false
  try {
    // Beside this module, in src/ and in dist/ (the build copies it there).
    const child = fileURLToPath(new URL('./exit-sender-child.cjs', import.meta.url))
    execFileSync(process.execPath, [child], {
      input: JSON.stringify({ items: items.map((i) => ({ url: i.url, body: i.body.toString('base64'), headers: i.headers ?? {} })), headers, timeoutMs, ca: ca?.toString() }),
      timeout: timeoutMs,
      stdio: ['pipe', 'ignore', 'ignore'],
      env: {}, // no NODE_OPTIONS: the sender must not load the agent (or anything else)
    })
    return true
  } catch {
    return false
  }
}
