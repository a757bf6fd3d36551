import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { compileFunction } from 'node:vm'
import { kLayer as kDone } from './symbols.js'

/**
 * Errors on their way through an app's layers, noted with no agent frame on
 * any stack the app can see.
 *
 * Express 4 and router 2.0 to 2.2 (Express 5.0 to 5.2) hand an error to each
 * matching layer's `handle_error` / `handleError`, which calls the app's
 * error-handling middleware. A wrapper around it would be on the stack of
 * every Error that middleware creates (and Express's development error page
 * prints). Instead, the method is compiled again from its own source text, as
 * Express wrote it, under Express's file name and at its line and column, with
 * one call added at the start of its first line: `note(error, req)`, which
 * returns before the app's middleware runs. Every frame of the copy reads as
 * the original's (`at Layer.handle_error (…/express/lib/router/layer.js:71:5)`).
 * Only source texts known here are compiled again (their free names are
 * given); any other is left alone and its errors are counted by status only.
 *
 * Router 2.3 and later (Express 5.3+) record every error passed to `next()` on
 * the request themselves (`req[Symbol.for('router.tracing.publishedErrors')]`,
 * first one first): it is read at the request's end, nothing is compiled.
 */

/** Where router 2.3+ keeps the errors a request's `next()` was given (router/lib/tracing.js). */
export const kRouterErrors = Symbol.for('router.tracing.publishedErrors')


/** globalThis: some router loaded records its requests' errors on them (shared by every copy of this package). */
const kRecords = Symbol.for('@agent/express.router-records-errors')
const g = globalThis as Record<symbol, unknown>

/** Whether some router loaded records the errors of its requests on them (router 2.3+). */
export function routerRecordsErrors(): boolean {
  return g[kRecords] === true
}

type Note = (error: unknown, req: object) => void
type Method = (this: unknown, error: unknown, req: object, res: unknown, next: unknown) => unknown

/** Source texts of error methods known here, without whitespace and comments, with the free names they use. */
const KNOWN: { name: string; text: string; free: string[] }[] = [
  {
    // Express 4.x, lib/router/layer.js
    name: 'handle_error',
    text: 'functionhandle_error(error,req,res,next){varfn=this.handle;if(fn.length!==4){returnnext(error);}try{fn(error,req,res,next);}catch(err){next(err);}}',
    free: [],
  },
  {
    // router 2.0.0 and 2.1.0
    name: 'handleError',
    text: "functionhandleError(error,req,res,next){constfn=this.handleif(fn.length!==4){returnnext(error)}try{constret=fn(error,req,res,next)if(isPromise(ret)){ret.then(null,function(error){next(error||newError('Rejectedpromise'))})}}catch(err){next(err)}}",
    free: ['isPromise'],
  },
  {
    // router 2.2.0
    name: 'handleError',
    text: "functionhandleError(error,req,res,next){constfn=this.handleif(fn.length!==4){returnnext(error)}try{constret=fn(error,req,res,next)if(isPromise(ret)){if(!(retinstanceofPromise)){deprecate('handlersthatarePromise-likearedeprecated,useanativePromiseinstead')}ret.then(null,function(error){next(error||newError('Rejectedpromise'))})}}catch(err){next(err)}}",
    free: ['isPromise', 'deprecate'],
  },
]

function squeeze(source: string): string {
  return source.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, '').replace(/\s+/g, '')
}

/** The free names a known method uses, from the module it was written in. */
function freeValue(name: string, file: string): unknown {
  const load = createRequire(file)
  if (name === 'isPromise') return load('is-promise')
  if (name === 'deprecate') return load('depd')('router')
  return undefined
}

/** The method compiled again from its source, with `note(error, req)` first; undefined if its text is not known. */
function recompiled(original: Method, file: string, note: Note): Method | undefined {
  const source = Function.prototype.toString.call(original)
  const known = KNOWN.find((k) => k.name === original.name && k.text === squeeze(source))
  if (!known) return undefined
  const text = readFileSync(file, 'utf8')
  const at = text.indexOf(source)
  // Its place in the file, for frames that read the same: found once, else left alone.
  if (at < 0 || text.indexOf(source, at + 1) >= 0) return undefined
  const lines = text.slice(0, at).split('\n')
  const column = lines[lines.length - 1]!.length
  const brace = source.indexOf('{') + 1
  const body = "'use strict';return (\n" + ' '.repeat(column) + source.slice(0, brace) + 'note(error, req);' + source.slice(brace) + '\n)'
  const make = compileFunction(body, ['note', ...known.free], { filename: file, lineOffset: lines.length - 2 })
  const copy = make(note, ...known.free.map((name) => freeValue(name, file))) as Method
  return typeof copy === 'function' && copy.name === original.name && copy.length === original.length ? copy : undefined
}

/**
 * Notes the errors a Layer class of Express hands its layers (see above).
 * `file`: the module the class was loaded from. True once it is handled
 * (or needs nothing); never throws.
 */
export function noteErrorsOnLayers(Layer: unknown, file: string, note: Note): boolean {
  const proto = (typeof Layer === 'function' ? (Layer as { prototype?: unknown }).prototype : undefined) as Record<string | symbol, unknown> | undefined
  if (!proto) return false
  if (proto[kDone]) return true
  const name = typeof proto.handleError === 'function' ? 'handleError' : typeof proto.handle_error === 'function' ? 'handle_error' : undefined
  if (!name) return false
  Object.defineProperty(proto, kDone, { value: true })
  // Router 2.3+ records the errors on the request: read at the end (kRouterErrors).
  if (/\binvokeWithTrace\b|\bshouldTrace\b/.test(Function.prototype.toString.call(proto[name]))) {
    g[kRecords] = true
    return true
  }
  try {
    const copy = recompiled(proto[name] as Method, file, note)
    if (copy) proto[name] = copy
  } catch {
    // left as Express wrote it
  }
  return true
}
