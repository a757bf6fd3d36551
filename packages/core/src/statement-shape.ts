// A statement's shape: the statement with every literal value removed, so it
// can leave the process (a password in a query string is a value) and so the
// same query with other values counts as one for N+1 detection.

export type SqlDialect = 'postgresql' | 'mysql'

/** A shape longer than this is cut: a statement of megabytes stays a short attribute. */
export const MAX_SHAPE_LENGTH = 2048
/** Distinct statement texts whose shapes are remembered, per dialect. */
const CACHE_ENTRIES = 1000
/** Longer texts are shaped each time, not remembered: they are rarely the same twice. */
const CACHE_MAX_TEXT = 4096
/** Arguments of a Redis command shown as `?`; more are one `…`. */
const MAX_REDIS_ARGS = 8

function isIdentChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 /* _ */ || c === 36 /* $ */ || c > 127
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

/** The end (exclusive) of a quoted run that started at `start` (on its opening quote). */
function quotedEnd(sql: string, start: number, quote: number, backslashEscapes: boolean): number {
  let i = start + 1
  while (i < sql.length) {
    const c = sql.charCodeAt(i)
    if (backslashEscapes && c === 92 /* \ */) {
      i += 2
      continue
    }
    if (c === quote) {
      // A doubled quote is one quote inside the literal.
      if (sql.charCodeAt(i + 1) === quote) {
        i += 2
        continue
      }
      return i + 1
    }
    i++
  }
  // Unterminated: the rest is the literal, never shown.
  return sql.length
}

/** The end of a PostgreSQL dollar-quoted string (`$$…$$`, `$tag$…$tag$`) at `start`, or -1 if none starts there. */
function dollarQuotedEnd(sql: string, start: number): number {
  let i = start + 1
  while (i < sql.length && sql.charCodeAt(i) !== 36 && isIdentChar(sql.charCodeAt(i))) i++
  if (sql.charCodeAt(i) !== 36) return -1
  const tag = sql.slice(start, i + 1)
  const close = sql.indexOf(tag, i + 1)
  return close === -1 ? sql.length : close + tag.length
}

/**
 * Replaces every literal with `?`: strings (escapes of the dialect included),
 * PostgreSQL's dollar-quoted and E'' strings, MySQL's double-quoted strings,
 * numbers, hex and bit strings (`x'..'`, `0x..`, `b'..'`), TRUE and FALSE;
 * strips comments and collapses whitespace. Identifiers (quoted too) and
 * placeholders (`$1`, `?`, `:name`) stay.
 */
function stripLiterals(sql: string, dialect: SqlDialect): string {
  let out = ''
  let i = 0
  const n = sql.length
  // Whether the last thing written ends a word, so a digit next to it is part of an identifier.
  let afterWord = false
  const literal = () => {
    out += '?'
    afterWord = true
  }
  // Whitespace and comments: one space, and none at the start.
  const space = () => {
    if (out.length > 0 && out.charCodeAt(out.length - 1) !== 32) out += ' '
    afterWord = false
  }
  while (i < n) {
    const c = sql.charCodeAt(i)
    // Comments: -- and /* */ everywhere, # in MySQL.
    if ((c === 45 /* - */ && sql.charCodeAt(i + 1) === 45) || (c === 35 /* # */ && dialect === 'mysql')) {
      const nl = sql.indexOf('\n', i)
      i = nl === -1 ? n : nl
      space()
      continue
    }
    if (c === 47 /* / */ && sql.charCodeAt(i + 1) === 42 /* * */) {
      const close = sql.indexOf('*/', i + 2)
      i = close === -1 ? n : close + 2
      space()
      continue
    }
    if (c === 39 /* ' */) {
      // MySQL reads backslash escapes in strings; PostgreSQL does only in E'' strings (below).
      i = quotedEnd(sql, i, 39, dialect === 'mysql')
      literal()
      continue
    }
    if (c === 34 /* " */) {
      const end = quotedEnd(sql, i, 34, dialect === 'mysql')
      // A string in MySQL; an identifier in PostgreSQL (and in MySQL's ANSI_QUOTES mode, read as a string: safe).
      if (dialect === 'mysql') literal()
      else {
        out += sql.slice(i, end)
        afterWord = true
      }
      i = end
      continue
    }
    if (c === 96 /* ` */) {
      const end = quotedEnd(sql, i, 96, false)
      out += sql.slice(i, end)
      afterWord = true
      i = end
      continue
    }
    if (c === 36 /* $ */ && !afterWord) {
      if (isDigit(sql.charCodeAt(i + 1))) {
        // A placeholder: $1.
        let j = i + 1
        while (j < n && isDigit(sql.charCodeAt(j))) j++
        out += sql.slice(i, j)
        afterWord = true
        i = j
        continue
      }
      if (dialect === 'postgresql') {
        const end = dollarQuotedEnd(sql, i)
        if (end !== -1) {
          i = end
          literal()
          continue
        }
      }
    }
    if (!afterWord && (isIdentChar(c) && !isDigit(c))) {
      // A word: a prefixed string (E'', X'', B'', N'', U&''), TRUE/FALSE, or an identifier or keyword.
      const next = sql.charCodeAt(i + 1)
      const lower = c | 32
      if (next === 39 && (lower === 101 /* e */ || lower === 120 /* x */ || lower === 98 /* b */ || lower === 110 /* n */)) {
        i = quotedEnd(sql, i + 1, 39, lower === 101 || dialect === 'mysql')
        literal()
        continue
      }
      if (lower === 117 /* u */ && next === 38 /* & */ && sql.charCodeAt(i + 2) === 39) {
        i = quotedEnd(sql, i + 2, 39, false)
        literal()
        continue
      }
      let j = i + 1
      while (j < n && isIdentChar(sql.charCodeAt(j))) j++
      const word = sql.slice(i, j)
      if (word.length <= 5 && /^(true|false)$/i.test(word)) literal()
      else {
        out += word
        afterWord = true
      }
      i = j
      continue
    }
    if (!afterWord && (isDigit(c) || (c === 46 /* . */ && isDigit(sql.charCodeAt(i + 1))))) {
      // A number: 42, 4.2, .5, 1e-3, 0x1F, 0b101.
      let j = i + 1
      if (c === 48 && /[xXbB]/.test(sql[j] ?? '')) {
        j++
        while (j < n && /[0-9a-fA-F_]/.test(sql[j]!)) j++
      } else {
        while (j < n && (isDigit(sql.charCodeAt(j)) || sql.charCodeAt(j) === 46 || sql.charCodeAt(j) === 95)) j++
        if ((sql.charCodeAt(j) | 32) === 101 /* e */ && /[-+0-9]/.test(sql[j + 1] ?? '')) {
          j += 2
          while (j < n && isDigit(sql.charCodeAt(j))) j++
        }
      }
      i = j
      literal()
      continue
    }
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12) {
      space()
      i++
      continue
    }
    out += sql[i]
    afterWord = isIdentChar(c)
    i++
    if (out.length > MAX_SHAPE_LENGTH * 2) break
  }
  return out
}

// After stripLiterals, no value is left: these work on the shape alone.
const PLACEHOLDER = String.raw`(?:\?|\$\d+|:\w+)`
const TUPLE = String.raw`\(\s*${PLACEHOLDER}(?:\s*,\s*${PLACEHOLDER})*\s*\)`
/** `IN (?, ?, ?)` and `IN ($1, $2)` are `IN (?)`: a list's length is not a new statement. */
const IN_LIST = new RegExp(String.raw`\bIN\s*${TUPLE}`, 'gi')
/** `VALUES (?, ?), (?, ?)` is `VALUES (?, ?)`: nor is a batch insert's row count. */
const ROWS = new RegExp(String.raw`(${TUPLE})(?:\s*,\s*${TUPLE})+`, 'g')

/** The SQL statement's shape: literals removed, comments stripped, lists collapsed, whitespace single, bounded. */
export function sqlShapeOf(sql: string, dialect: SqlDialect): string {
  let shape = stripLiterals(sql, dialect).trim()
  shape = shape.replace(IN_LIST, 'IN (?)').replace(ROWS, '$1')
  return shape.length > MAX_SHAPE_LENGTH ? `${shape.slice(0, MAX_SHAPE_LENGTH - 1)}…` : shape
}

/** `SELECT`, `INSERT`, `WITH`: the statement's first keyword, upper case. */
export function sqlOperationOf(shape: string): string {
  const m = /^[\s(]*([A-Za-z]+)/.exec(shape)
  return m === null ? 'QUERY' : m[1]!.toUpperCase()
}

export interface SqlStatement {
  shape: string
  operation: string
}

/** Shapes by statement text, per dialect: a map cleared when full (the same few statements run again and again). */
const cache: Record<SqlDialect, Map<string, SqlStatement>> = { postgresql: new Map(), mysql: new Map() }

/** The statement's shape and operation, remembered per distinct text (bounded). Never throws. */
export function sqlStatement(sql: string, dialect: SqlDialect): SqlStatement {
  const memo = cache[dialect]
  const hit = memo.get(sql)
  if (hit !== undefined) return hit
  let statement: SqlStatement
  try {
    const shape = sqlShapeOf(sql, dialect)
    statement = { shape, operation: sqlOperationOf(shape) }
  } catch {
    statement = { shape: '?', operation: 'QUERY' }
  }
  if (sql.length <= CACHE_MAX_TEXT) {
    if (memo.size >= CACHE_ENTRIES) memo.clear()
    memo.set(sql, statement)
  }
  return statement
}

/**
 * A Redis command's shape: its name and one `?` per argument (keys hold ids
 * and values alike), past `MAX_REDIS_ARGS` one `…`.
 */
export function redisShapeOf(command: string, argCount: number): string {
  const name = command.toUpperCase()
  if (argCount <= 0) return name
  return argCount <= MAX_REDIS_ARGS ? name + ' ?'.repeat(argCount) : `${name}${' ?'.repeat(MAX_REDIS_ARGS)} …`
}
