// Messages between the server and its ingest worker.
import type { RetentionOptions } from './retention.js'

export type Signal = 'metrics' | 'traces' | 'logs'

export interface IngestWorkerData {
  dbPath: string
  maxDecompressedBytes: number
  slowMs: number
  retention: (RetentionOptions & { everyMs: number }) | null
}

/**
 * `payloadId`: the agent's x-agent-payload-id; a payload with an id already stored is not stored again.
 * `protobuf`: the body is OTLP/protobuf, not OTLP/JSON.
 */
export interface IngestRequest { id: number; signal: Signal; body: Uint8Array; gzip: boolean; protobuf: boolean; payloadId?: string }

/** `id` -1 is a message of the worker's own (a failed retention pass). */
export interface IngestReply { id: number; status: number; error?: string; ms?: number }
