/**
 * Bytes written straight into one buffer that grows by doubling: a report's
 * encoders write here instead of building objects and strings first, which
 * was most of a large report's encoding time.
 */
export class ByteWriter {
  buf: Buffer
  pos = 0

  constructor(size = 1024) {
    this.buf = Buffer.allocUnsafe(size)
  }

  /** Room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.pos + n
    if (need <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < need) size *= 2
    const grown = Buffer.allocUnsafe(size)
    this.buf.copy(grown, 0, 0, this.pos)
    this.buf = grown
  }

  byte(b: number): void {
    this.ensure(1)
    this.buf[this.pos++] = b
  }

  /** A string as UTF-8; short ASCII ones without a call into C++ (most pieces of a payload are). */
  utf8(s: string): void {
    const n = s.length
    this.ensure(n * 3)
    if (n < 64) {
      const buf = this.buf
      let p = this.pos
      let i = 0
      for (; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) break
        buf[p++] = c
      }
      if (i === n) {
        this.pos = p
        return
      }
    }
    this.pos += this.buf.write(s, this.pos, 'utf8')
  }

  /** A JSON string literal: plain ASCII copied as it is, anything else as JSON.stringify writes it. */
  jsonString(s: string): void {
    const n = s.length
    this.ensure(n + 2)
    const buf = this.buf
    let p = this.pos
    buf[p++] = 0x22 // "
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) return this.utf8(JSON.stringify(s))
      buf[p++] = c
    }
    buf[p++] = 0x22
    this.pos = p
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  /**
   * Non-negative integers as a JSON array: a histogram's buckets, most of
   * them 0 and the rest small, a byte or two each.
   */
  jsonCounts(counts: readonly number[]): void {
    const n = counts.length
    this.ensure(n * 2 + 2)
    let buf = this.buf
    let p = this.pos
    buf[p++] = 0x5b // [
    for (let i = 0; i < n; i++) {
      const v = counts[i]!
      if (v >= 0 && v < 10) {
        buf[p++] = 0x30 + v
      } else {
        this.pos = p
        this.utf8(String(v))
        this.ensure((n - i) * 2 + 2)
        buf = this.buf
        p = this.pos
      }
      buf[p++] = 0x2c // ,
    }
    if (n > 0) p-- // no comma after the last
    buf[p++] = 0x5d // ]
    this.pos = p
  }

  /**
   * What was written, for keeping: a copy when the buffer is far larger, so a
   * queued payload holds no more memory than the bytes it counts as.
   */
  compact(): Buffer {
    return this.pos < this.buf.length * 0.75 ? Buffer.from(this.result()) : this.result()
  }

  /** What was written (a view, not a copy). */
  result(): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}
