// The ingest worker thread: decompresses, parses (OTLP/JSON or OTLP/protobuf) and stores reports with its own connection
// to the database, so a large report never holds up the dashboard on the main thread.
// It also applies retention, the other writer.
import { parentPort, workerData } from 'node:worker_threads'
import { gunzipSync } from 'node:zlib'
import { InvalidPayload, ingestLogs, ingestMetrics, ingestTraces } from './otlp-ingest.js'
import { decodeProtobuf } from './otlp-protobuf.js'
import { applyRetention, type RetentionOptions } from './retention.js'
import { openDatabase } from './store.js'
import type { IngestReply, IngestRequest, IngestWorkerData } from './ingest-protocol.js'

const data = workerData as IngestWorkerData
const db = openDatabase(data.dbPath)
const port = parentPort!
const seenPayload = db.prepare('SELECT 1 FROM payload_ids WHERE id = ?')
const rememberPayload = db.prepare('INSERT INTO payload_ids (id, received_ms) VALUES (?, ?)')

function store(req: IngestRequest): IngestReply {
  let raw = Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength)
  try {
    if (req.gzip) raw = gunzipSync(raw, { maxOutputLength: data.maxDecompressedBytes })
  } catch (err) {
    return { id: req.id, status: 400, error: `bad gzip body or larger than ${data.maxDecompressedBytes} bytes once decompressed: ${(err as Error).message}` }
  }
  let body: unknown
  try {
    body = req.protobuf ? decodeProtobuf(req.signal, raw) : JSON.parse(raw.toString('utf8'))
  } catch (err) {
    return { id: req.id, status: 400, error: `malformed ${req.protobuf ? 'protobuf' : 'JSON'}: ${(err as Error).message}` }
  }
  try {
    // Stored already: the agent sent it again because our answer was lost. Acknowledge, store nothing.
    if (req.payloadId !== undefined && seenPayload.get(req.payloadId) !== undefined) return { id: req.id, status: 200 }
    db.transaction(() => {
      if (req.signal === 'metrics') ingestMetrics(db, body)
      else if (req.signal === 'traces') ingestTraces(db, body, { slowMs: data.slowMs })
      else ingestLogs(db, body)
      if (req.payloadId !== undefined) rememberPayload.run(req.payloadId, Date.now())
    })()
    return { id: req.id, status: 200 }
  } catch (err) {
    if (err instanceof InvalidPayload) return { id: req.id, status: 400, error: `invalid OTLP payload: ${err.message}` }
    return { id: req.id, status: 500, error: `storage failed: ${(err as Error).message}` }
  }
}

function retain(options: RetentionOptions): void {
  try {
    applyRetention(db, Date.now(), options)
  } catch (err) {
    // A failed pass (disk full, a lock held too long) is retried at the next one; ingest goes on.
    port.postMessage({ id: -1, status: 500, error: `retention failed: ${(err as Error).message}` } satisfies IngestReply)
  }
}

if (data.retention) {
  const options = data.retention
  retain(options)
  setInterval(() => retain(options), data.retention.everyMs).unref()
}

port.on('message', (msg: IngestRequest | { close: true }) => {
  if ('close' in msg) {
    db.close()
    port.close()
    return
  }
  const started = performance.now()
  const reply = store(msg)
  port.postMessage({ ...reply, ms: performance.now() - started } satisfies IngestReply)
})
