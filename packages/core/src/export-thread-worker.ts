// The export thread's side (see export-thread.ts): each message from the
// agent's thread is one POST made here, with http-transport's deadlines; the
// answer, or why there is none, goes back under the message's id.
import { parentPort } from 'node:worker_threads'
import { send, SendError, type PendingSend } from './http-transport.js'
import type { FromExportThread, ToExportThread } from './export-thread.js'

const port = parentPort
const inFlight = new Map<number, PendingSend>()

function reply(message: FromExportThread): void {
  port?.postMessage(message)
}

port?.on('message', (message: ToExportThread) => {
  if (message.type === 'abort') {
    inFlight.get(message.id)?.abort()
    return
  }
  const { id, url, body, options } = message
  let pending: PendingSend
  try {
    // Referenced: this thread has nothing else to keep alive, and the agent's thread decides whether to wait.
    pending = send(new URL(url), Buffer.from(body.buffer, body.byteOffset, body.byteLength), options, true)
  } catch (err) {
    reply({ type: 'failed', id, kind: 'network', message: (err as Error).message })
    return
  }
  inFlight.set(id, pending)
  pending.done.then(
    (result) => reply({ type: 'answered', id, result }),
    (err: unknown) => {
      const e = err instanceof SendError ? err : new SendError('network', (err as Error).message)
      reply({ type: 'failed', id, kind: e.kind, message: e.message, ...(e.code !== undefined ? { code: e.code } : {}) })
    },
  ).finally(() => inFlight.delete(id))
})
