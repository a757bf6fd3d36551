// Messages between the server and its ingest worker.
import type { RetentionOptions } from './retention.js'

export type Signal = 'metrics' | 'traces' | 'logs'

export interface IngestWorkerData {
  dbPath: string
  maxDecompressedBytes: number
  slowMs: number
  retention: (RetentionOptions & { everyMs: number }) | null
}

export interface IngestRequest { id: number; signal: Signal; body: Uint8Array; gzip: boolean }

/** `id` -1 is a message of the worker's own (a failed retention pass). */
export interface IngestReply { id: number; status: number; error?: string; ms?: number }
