import { Aggregator, type EndpointSnapshot, type IntervalSnapshot, type JobOutcome, type QueueDepth } from './aggregator.js'
import type { HistogramData, LatencyHistogram } from './histogram.js'
import { LAYERS, layerIndex } from './layer-clock.js'

/**
 * The compact form of a worker's interval on the cluster IPC channel. The
 * app's cluster settings choose the channel's serialization, so this form is
 * made for the default, JSON: what costs there is a value per JSON token, on
 * both sides. So every number goes into one string, `data`, which
 * JSON.stringify copies and JSON.parse reads as one token:
 *
 * - whole numbers as base-64 digits, 5 bits each, little end first; a digit
 *   of 32 or more says another follows (a number under 32 is one character);
 * - other numbers (sums, extremes, times) as their 64 bits, 11 digits;
 * - histograms sparse: runs of empty buckets are one number;
 * - endpoint, job and statement names as indexes into a table the worker
 *   sends once, each name the first time it is used (`NameTable`).
 *
 * `data` holds, in order: the endpoints (their number, then each one's name,
 * count, errors, aborted, histogram and what it did inside), then the jobs
 * (their number, then each one's name, what it did inside with its outcomes
 * and wait as flags, a histogram per outcome, the wait's). A histogram: its count, zero count; if not empty, its sum, min and
 * max, its first bucket (zigzag), how many buckets it spans, and tokens up to
 * its last bucket: 2n for a bucket of n values, 2k+1 for k empty ones.
 */
export interface PackedInterval {
  startMs: number
  endMs: number
  data: string
  queues?: QueueDepth[]
}

/**
 * A name in the table: an endpoint routed ('e') or named by the agent ('u'),
 * a job (its name, queue, system; null for none) or an N+1 statement shape.
 */
export type NameDef = ['e' | 'u', string, string] | ['j', string, string | null, string | null] | ['s', string]

/** Names a table holds before it starts again (what a worker's names can grow to is not bounded otherwise). */
export const MAX_NAMES = 10_000

/**
 * A worker's names, each numbered by the order it first appears in. The list
 * only grows, so a hand-over kept for the primary's acknowledgement is read
 * with the list it was packed with, even after the link starts a new table.
 */
export class NameTable {
  readonly list: NameDef[] = []
  private readonly numbers = new Map<string, number>()
  /** How many of `list` the primary has been sent. */
  sent = 0

  number(key: string, def: () => NameDef): number {
    let n = this.numbers.get(key)
    if (n === undefined) {
      n = this.list.length
      this.list.push(def())
      this.numbers.set(key, n)
    }
    return n
  }

  get full(): boolean {
    return this.list.length >= MAX_NAMES
  }
}

// The 64 digits: none needs escaping in JSON, and all are one byte in UTF-8.
const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_'
const DIGIT_CODES = Uint8Array.from(DIGITS, (c) => c.charCodeAt(0))
const DIGIT_VALUES = new Int8Array(128).fill(-1)
for (let i = 0; i < 64; i++) DIGIT_VALUES[DIGIT_CODES[i]!] = i

const OUTCOMES: readonly JobOutcome[] = ['completed', 'failed', 'retried', 'stalled']
const HAS_LAYERS = 1
const HAS_N_PLUS_ONE = 2
/** Jobs: bit 2 + i for `OUTCOMES[i]`, then the wait. */
const OUTCOME_BIT = 4
const HAS_WAIT = 64

/** A double's bits, read and written through the same eight bytes. */
const bits = new Float64Array(1)
const bitWords = new Uint32Array(bits.buffer)

/** The packing buffer, kept between hand-overs up to this size. */
const KEEP_BUFFER_BYTES = 1 << 20

class Packer {
  private bytes = new Uint8Array(4096)
  private at = 0

  /** A whole number from 0 to 2^53. */
  uint(value: number): void {
    if (this.at + 11 > this.bytes.length) this.grow()
    // Anything else would never end the loop below (a bug elsewhere must not hang the app).
    let v = value >= 0 && value <= Number.MAX_SAFE_INTEGER ? value : 0
    const bytes = this.bytes
    let at = this.at
    while (v > 31) {
      bytes[at++] = DIGIT_CODES[32 | (v % 32)]!
      v = v < 0x80000000 ? v >>> 5 : Math.floor(v / 32)
    }
    bytes[at++] = DIGIT_CODES[v | 0]!
    this.at = at
  }

  /**
   * A histogram's buckets `first` through `last` (nonzero at both ends) as
   * tokens: 2n for a bucket of n, 2k+1 for k empty buckets. The hot loop of a
   * hand-over, so written out here: one room check, small tokens one digit.
   */
  tokens(counts: readonly number[], first: number, last: number): void {
    // Room for every bucket's token at its longest.
    while (this.at + (last - first + 1) * 11 > this.bytes.length) this.grow()
    const bytes = this.bytes
    let at = this.at
    let empty = 0
    for (let i = first; i <= last; i++) {
      const n = counts[i]!
      if (n === 0) {
        empty++
        continue
      }
      if (empty > 0) {
        const run = 2 * empty + 1
        if (run < 32) bytes[at++] = DIGIT_CODES[run]!
        else {
          this.at = at
          this.uint(run)
          at = this.at
        }
        empty = 0
      }
      if (n > 0 && n < 16) bytes[at++] = DIGIT_CODES[2 * n]!
      else {
        this.at = at
        this.uint(2 * n)
        at = this.at
      }
    }
    this.at = at
  }

  int(value: number): void {
    this.uint(value < 0 ? -2 * value - 1 : 2 * value)
  }

  double(value: number): void {
    if (this.at + 11 > this.bytes.length) this.grow()
    bits[0] = value
    const lo = bitWords[0]!
    const hi = bitWords[1]!
    const bytes = this.bytes
    let at = this.at
    bytes[at++] = DIGIT_CODES[lo & 63]!
    bytes[at++] = DIGIT_CODES[(lo >>> 6) & 63]!
    bytes[at++] = DIGIT_CODES[(lo >>> 12) & 63]!
    bytes[at++] = DIGIT_CODES[(lo >>> 18) & 63]!
    bytes[at++] = DIGIT_CODES[(lo >>> 24) & 63]!
    bytes[at++] = DIGIT_CODES[(lo >>> 30) | ((hi & 15) << 2)]!
    bytes[at++] = DIGIT_CODES[(hi >>> 4) & 63]!
    bytes[at++] = DIGIT_CODES[(hi >>> 10) & 63]!
    bytes[at++] = DIGIT_CODES[(hi >>> 16) & 63]!
    bytes[at++] = DIGIT_CODES[(hi >>> 22) & 63]!
    bytes[at++] = DIGIT_CODES[hi >>> 28]!
    this.at = at
  }

  private grow(): void {
    const bigger = new Uint8Array(this.bytes.length * 2)
    bigger.set(this.bytes.subarray(0, this.at))
    this.bytes = bigger
  }

  /** What was packed, as a string; the packer starts empty again. */
  take(): string {
    const text = Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.at).toString('latin1')
    this.at = 0
    if (this.bytes.length > KEEP_BUFFER_BYTES) this.bytes = new Uint8Array(4096)
    return text
  }
}

/** A hand-over that cannot be read: it was not packed by this code, or its names were never sent. */
export class UnreadableHandOver extends Error {}

class Unpacker {
  at = 0
  constructor(readonly text: string) {}

  uint(): number {
    const text = this.text
    let value = 0
    let scale = 1
    for (;;) {
      const digit = DIGIT_VALUES[text.charCodeAt(this.at++)]
      // Past the end (NaN) or not a digit (-1).
      if (!(digit! >= 0)) throw new UnreadableHandOver('not a packed number')
      if (digit! < 32) return value + digit! * scale
      value += (digit! - 32) * scale
      scale *= 32
    }
  }

  int(): number {
    const z = this.uint()
    return z % 2 === 1 ? -(z + 1) / 2 : z / 2
  }

  double(): number {
    const text = this.text
    let lo = 0
    let hi = 0
    for (let i = 0; i < 11; i++) {
      const digit = DIGIT_VALUES[text.charCodeAt(this.at++)]
      if (!(digit! >= 0)) throw new UnreadableHandOver('not a packed number')
      if (i < 5) lo |= digit! << (6 * i)
      else if (i === 5) {
        lo |= (digit! & 3) << 30
        hi = digit! >>> 2
      } else hi |= digit! << (6 * i - 32)
    }
    bitWords[0] = lo >>> 0
    bitWords[1] = hi >>> 0
    return bits[0]!
  }

  get done(): boolean {
    return this.at === this.text.length
  }
}

const packer = new Packer()

/** Packs an interval, numbering its names in `names` (new ones are the table's unsent end). */
export function packInterval(interval: IntervalSnapshot, names: NameTable): PackedInterval {
  const p = packer
  p.uint(interval.endpoints.length)
  for (const e of interval.endpoints) {
    const kind = e.unrouted ? 'u' : 'e'
    p.uint(names.number(`${kind} ${e.method} ${e.route}`, () => [kind, e.method, e.route]))
    p.uint(e.count)
    p.uint(e.errors)
    p.uint(e.aborted)
    packHistogram(p, e.histogram)
    packInside(p, e, names, 0)
  }
  const jobs = interval.jobs ?? []
  p.uint(jobs.length)
  for (const j of jobs) {
    p.uint(names.number(jobKey(j.system, j.queue, j.name), () => ['j', j.name, j.queue ?? null, j.system ?? null]))
    let flags = 0
    for (const o of j.outcomes) flags |= OUTCOME_BIT << OUTCOMES.indexOf(o.outcome)
    if (j.wait !== undefined) flags |= HAS_WAIT
    packInside(p, j, names, flags)
    for (let i = 0; i < OUTCOMES.length; i++) {
      const o = j.outcomes.find((x) => x.outcome === OUTCOMES[i])
      if (o !== undefined) packHistogram(p, o.histogram)
    }
    if (j.wait !== undefined) packHistogram(p, j.wait)
  }
  const packed: PackedInterval = { startMs: interval.startMs, endMs: interval.endMs, data: p.take() }
  if (interval.queues !== undefined) packed.queues = interval.queues
  return packed
}

/** Unique for each job's three names, any of which may hold spaces or be absent. */
function jobKey(system: string | undefined, queue: string | undefined, name: string): string {
  return `j ${system === undefined ? '-' : system.length} ${queue === undefined ? '-' : queue.length} ${system ?? ''}${queue ?? ''}${name}`
}

function packHistogram(p: Packer, h: HistogramData): void {
  p.uint(h.count)
  p.uint(h.zeroCount)
  if (h.count === 0) return
  p.double(h.sum)
  p.double(h.min)
  p.double(h.max)
  const counts = h.counts
  let first = 0
  let last = counts.length - 1
  while (first <= last && counts[first] === 0) first++
  while (last >= first && counts[last] === 0) last--
  if (first > last) {
    p.int(0)
    p.uint(0)
    return
  }
  p.int(h.offset + first)
  p.uint(last - first + 1)
  p.tokens(counts, first, last)
}

/** Flags (with the caller's own bits), then the layers and N+1 shapes where there are. */
function packInside(p: Packer, s: Pick<EndpointSnapshot, 'layers' | 'nPlusOne'>, names: NameTable, flags: number): void {
  const layers = s.layers !== undefined && s.layers.length > 0 ? s.layers : undefined
  const nPlusOne = s.nPlusOne !== undefined && s.nPlusOne.length > 0 ? s.nPlusOne : undefined
  if (layers) flags |= HAS_LAYERS
  if (nPlusOne) flags |= HAS_N_PLUS_ONE
  p.uint(flags)
  if (layers) {
    p.uint(layers.length)
    for (const l of layers) {
      p.uint(layerIndex[l.layer])
      p.uint(l.calls)
      p.double(l.timeS)
    }
  }
  if (nPlusOne) {
    p.uint(nPlusOne.length)
    for (const n of nPlusOne) {
      p.uint(layerIndex[n.layer])
      p.uint(names.number(`s ${n.statement}`, () => ['s', n.statement]))
      p.uint(n.requests)
    }
  }
}

/**
 * Adds a packed interval to `into`, exactly, its names read from `names`.
 * Throws `UnreadableHandOver` where the data is not what `packInterval` made.
 */
export function unpackInterval(packed: PackedInterval, names: readonly NameDef[], into: Aggregator): void {
  if (typeof packed.data !== 'string') throw new UnreadableHandOver('no data')
  const u = new Unpacker(packed.data)
  into.coverFrom(packed.startMs)
  const endpoints = u.uint()
  for (let i = 0; i < endpoints; i++) {
    const def = names[u.uint()]
    if (def === undefined || (def[0] !== 'e' && def[0] !== 'u')) throw new UnreadableHandOver('an endpoint name never sent')
    const stats = into.endpoint(def[1], def[2], def[0] === 'e')
    stats.count += u.uint()
    stats.errors += u.uint()
    stats.aborted += u.uint()
    unpackHistogram(u, stats.histogram)
    unpackInside(u, stats, names)
  }
  const jobs = u.uint()
  for (let i = 0; i < jobs; i++) {
    const def = names[u.uint()]
    if (def === undefined || def[0] !== 'j') throw new UnreadableHandOver('a job name never sent')
    const stats = into.job(def[3] ?? undefined, def[2] ?? undefined, def[1])
    const flags = unpackInside(u, stats, names)
    for (let o = 0; o < OUTCOMES.length; o++) if (flags & (OUTCOME_BIT << o)) unpackHistogram(u, stats.outcome(OUTCOMES[o]!))
    if (flags & HAS_WAIT) unpackHistogram(u, stats.waitHistogram())
  }
  if (!u.done) throw new UnreadableHandOver('data past its end')
  for (const q of packed.queues ?? []) into.setQueueDepth(q)
}

function unpackHistogram(u: Unpacker, h: LatencyHistogram): void {
  const count = u.uint()
  const zeroCount = u.uint()
  if (count === 0) return
  h.addSummary(count, u.double(), u.double(), u.double(), zeroCount)
  let index = u.int()
  const end = index + u.uint()
  if (index === end) return
  h.cover(index, end - 1)
  // Within the bounds `cover` keeps, buckets go straight into the array; past them, one by one, clamped.
  const base = h.offset
  const direct = base <= index && end - base <= h.counts.length
  const counts = h.counts
  // Each token takes a character at least: a hostile one cannot loop for ever.
  const text = u.text
  while (index < end) {
    // Most tokens are one digit: read here; longer ones by `uint`.
    const digit = DIGIT_VALUES[text.charCodeAt(u.at)]!
    let token: number
    if (digit >= 0 && digit < 32) {
      token = digit
      u.at++
    } else token = u.uint()
    if (token % 2 === 1) {
      index += (token - 1) / 2
      continue
    }
    if (direct) counts[index - base]! += token / 2
    else h.addBucket(index, token / 2)
    index++
  }
}

function unpackInside(u: Unpacker, stats: { addLayer(layer: number, calls: number, timeS: number): void; flagNPlusOne(key: string, requests?: number): void }, names: readonly NameDef[]): number {
  const flags = u.uint()
  if (flags & HAS_LAYERS) {
    const n = u.uint()
    for (let i = 0; i < n; i++) {
      const layer = u.uint()
      const calls = u.uint()
      const timeS = u.double()
      if (layer < LAYERS.length) stats.addLayer(layer, calls, timeS)
    }
  }
  if (flags & HAS_N_PLUS_ONE) {
    const n = u.uint()
    for (let i = 0; i < n; i++) {
      const layer = LAYERS[u.uint()]
      const def = names[u.uint()]
      const requests = u.uint()
      if (layer === undefined || def === undefined || def[0] !== 's') throw new UnreadableHandOver('a statement never sent')
      stats.flagNPlusOne(`${layer}\t${def[1]}`, requests)
    }
  }
  return flags
}

/** A packed interval back as a snapshot (a worker exporting what its dead primary never acknowledged). */
export function unpackSnapshot(packed: PackedInterval, names: readonly NameDef[]): IntervalSnapshot {
  const aggregator = new Aggregator(Number.MAX_SAFE_INTEGER, packed.startMs)
  unpackInterval(packed, names, aggregator)
  return aggregator.drain(packed.endMs)
}
