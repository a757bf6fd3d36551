/**
 * Reads one HTTP/1.x response from a socket's bytes, for the exporter's own
 * client (http-transport.ts): the status line and headers, then the body as
 * its framing says (Content-Length, chunked, or until the connection closes),
 * handed on as it comes. Only what an export needs: 1xx interim answers are
 * skipped, trailers are read and ignored, and every line is bounded, so a
 * hostile answer costs a few KB at most.
 */

/** Node's own default limit for a response's head. */
export const MAX_HEAD_BYTES = 16 * 1024
/** A chunk-size line or a trailer line. */
const MAX_LINE_BYTES = 1024
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const HEX = /^[0-9A-Fa-f]{1,12}$/

/** The bytes are not an HTTP/1.x response (or break its framing). */
export class ResponseError extends Error {}

export interface ResponseHandlers {
  /** The final status and headers (names lower-cased; a repeated header's values joined by ", "). */
  head(status: number, headers: ReadonlyMap<string, string>): void
  body(chunk: Buffer): void
  /** The body ended as its framing said; `reusable`: the connection may carry another request. */
  end(reusable: boolean): void
}

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'close' | 'done'

export class ResponseReader {
  private state: State = 'head'
  /** The head so far, as latin1 text (one character per byte). */
  private headText = ''
  /** A partial chunk-size or trailer line, or the CRLF after a chunk's data. */
  private line = ''
  private remaining = 0
  private keepAlive = false
  private ended = false

  constructor(private readonly on: ResponseHandlers) {}

  get complete(): boolean {
    return this.state === 'done'
  }

  /** Takes the next bytes; throws `ResponseError` where they are not HTTP. */
  push(chunk: Buffer): void {
    if (this.ended) return
    let at = 0
    while (at < chunk.length && this.state !== 'done') at = this.step(chunk, at)
    // Bytes after the response's end: nothing asked for them, so the connection is not reused.
    if (this.state === 'done') this.end(this.keepAlive && at === chunk.length)
  }

  private end(reusable: boolean): void {
    this.ended = true
    this.on.end(reusable)
  }

  /** The connection ended: the end of a body framed by it, else an answer cut short. */
  closed(): void {
    if (this.state === 'close') {
      this.state = 'done'
      this.end(false)
    } else if (this.state !== 'done') {
      throw new ResponseError(this.state === 'head' ? 'the connection closed before an answer' : 'the connection closed inside the answer')
    }
  }

  private step(chunk: Buffer, at: number): number {
    switch (this.state) {
      case 'head':
        return this.readHead(chunk, at)
      case 'length':
      case 'chunk-data': {
        const end = Math.min(chunk.length, at + this.remaining)
        this.remaining -= end - at
        this.on.body(chunk.subarray(at, end))
        if (this.remaining === 0) this.state = this.state === 'length' ? 'done' : 'chunk-end'
        return end
      }
      case 'close':
        this.on.body(chunk.subarray(at))
        return chunk.length
      case 'chunk-end': {
        const need = 2 - this.line.length
        this.line += chunk.toString('latin1', at, at + need)
        if (this.line.length < 2) return chunk.length
        if (this.line !== '\r\n') throw new ResponseError('a chunk does not end with CRLF')
        this.line = ''
        this.state = 'chunk-size'
        return at + need
      }
      case 'chunk-size':
      case 'trailers': {
        const eol = chunk.indexOf(10, at)
        this.line += chunk.toString('latin1', at, eol === -1 ? chunk.length : eol)
        if (this.line.length > MAX_LINE_BYTES) throw new ResponseError(`a line over ${MAX_LINE_BYTES} bytes`)
        if (eol === -1) return chunk.length
        const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line
        this.line = ''
        if (this.state === 'trailers') {
          if (line === '') this.state = 'done'
        } else {
          const size = line.split(';', 1)[0]!.trim()
          if (!HEX.test(size)) throw new ResponseError('a chunk size that is not hexadecimal')
          this.remaining = Number.parseInt(size, 16)
          this.state = this.remaining === 0 ? 'trailers' : 'chunk-data'
        }
        return eol + 1
      }
      default:
        return chunk.length
    }
  }

  private readHead(chunk: Buffer, at: number): number {
    const before = this.headText.length
    this.headText += chunk.toString('latin1', at)
    if (this.headText.length >= 5 && !this.headText.startsWith('HTTP/')) throw new ResponseError('the answer does not start with a status line')
    const end = this.headText.indexOf('\r\n\r\n')
    if (end === -1) {
      if (this.headText.length > MAX_HEAD_BYTES) throw new ResponseError(`a head over ${MAX_HEAD_BYTES} bytes`)
      return chunk.length
    }
    if (end > MAX_HEAD_BYTES) throw new ResponseError(`a head over ${MAX_HEAD_BYTES} bytes`)
    const next = at + end + 4 - before
    const lines = this.headText.slice(0, end).split('\r\n')
    this.headText = ''
    const status = STATUS_LINE.exec(lines[0]!)
    if (status === null) throw new ResponseError('a malformed status line')
    const code = Number(status[2])
    const headers = new Map<string, string>()
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!
      const colon = line.indexOf(':')
      const name = colon > 0 ? line.slice(0, colon).toLowerCase() : ''
      if (!TOKEN.test(name)) throw new ResponseError('a malformed header line')
      const value = line.slice(colon + 1).trim()
      const seen = headers.get(name)
      headers.set(name, seen === undefined ? value : `${seen}, ${value}`)
    }
    // An interim answer (100 Continue, 103 Early Hints): the final one follows.
    if (code >= 100 && code < 200) {
      if (code === 101) throw new ResponseError('a protocol switch that was not asked for')
      return next
    }
    this.on.head(code, headers)
    const connection = (headers.get('connection') ?? '').toLowerCase()
    this.keepAlive = status[1] === '1' && !/(^|,)\s*close\s*(,|$)/.test(connection)
    const coding = headers.get('transfer-encoding')
    const length = headers.get('content-length')
    if (code === 204 || code === 304) this.state = 'done'
    else if (coding !== undefined) this.state = /(^|,)\s*chunked\s*$/i.test(coding) ? 'chunk-size' : 'close'
    else if (length !== undefined) {
      const lengths = new Set(length.split(',').map((s) => s.trim()))
      const only = lengths.size === 1 ? [...lengths][0]! : ''
      if (!/^\d{1,15}$/.test(only)) throw new ResponseError('a malformed Content-Length')
      this.remaining = Number(only)
      this.state = this.remaining === 0 ? 'done' : 'length'
    } else this.state = 'close'
    if (this.state === 'close') this.keepAlive = false
    return next
  }
}
