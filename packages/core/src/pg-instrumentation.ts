import { startClientCall, type CallPeer, type ClientCall } from './client-calls.js'
import { releaseMethods, wrapMethod, type WrapSlot } from './method-wrap.js'
import { watchPackage } from './module-hook.js'
import { bindToRequest } from './request-binding.js'
import { wantContext } from './request-context.js'
import { sqlStatement } from './statement-shape.js'

type Fn = (this: unknown, ...args: unknown[]) => unknown

/** What the wrapper reads of a `pg.Client`: its peer and database, set by its constructor. */
interface PgClient {
  host?: unknown
  port?: unknown
  database?: unknown
}

/** A query object pg is handed (`new pg.Query`, pg-cursor, pg-query-stream): pg drives it through these. */
interface Submittable {
  submit: unknown
  text?: unknown
  cursor?: { text?: unknown }
  handleError?: Fn
  handleReadyForQuery?: Fn
}

/** The statement text of `query`'s first argument: a string, a config object, or a submittable. */
function textOf(config: unknown): string | undefined {
  if (typeof config === 'string') return config
  if (config === null || typeof config !== 'object') return undefined
  const text = (config as Submittable).text ?? (config as Submittable).cursor?.text
  return typeof text === 'string' ? text : undefined
}

/**
 * PostgreSQL through `pg`, which publishes no diagnostics channel (8.23 is
 * the newest checked). One wrapper on `Client.prototype.query`, which every
 * query goes through (a `Pool`'s too), installed when pg is loaded (a
 * `Module._load` watcher: CommonJS and ESM apps alike) or found loaded, once
 * per process. It returns what pg returns (the same promise settles the
 * same way, a callback gets the same arguments, a submittable is returned
 * as given) and throws what pg throws. A `Pool`'s `connect` callback is run
 * in the context of the request that asked, not of the one whose release
 * handed it a client.
 */
export class PgInstrumentation {
  private enabled = false
  private unwatch: (() => void) | undefined
  private readonly protos = new Set<object>()

  enable(): void {
    if (this.enabled) return
    this.enabled = true
    this.unwatch = watchPackage('pg', (exports) => this.onLoad(exports))
  }

  disable(): void {
    if (!this.enabled) return
    this.enabled = false
    this.unwatch?.()
    this.unwatch = undefined
    for (const proto of this.protos) releaseMethods(proto, this)
  }

  /** pg's main exports (`Client`, `Pool`); any other module of the package is not this one's concern. */
  private onLoad(exports: unknown): void {
    const pg = exports as { Client?: { prototype?: object }; Pool?: { prototype?: object } } | undefined
    const clientProto = pg?.Client?.prototype
    if (clientProto === undefined || typeof (clientProto as { query?: unknown }).query !== 'function') return
    // The first sign the app will query from its requests: they enter the context from now on.
    wantContext()
    if (wrapMethod(clientProto, 'query', this, wrapQuery)) this.protos.add(clientProto)
    // pg-pool's Pool, under pg's Pool (a subclass): the prototype that has `connect`.
    let proto = pg?.Pool?.prototype
    while (proto !== undefined && proto !== null && !Object.prototype.hasOwnProperty.call(proto, 'connect')) proto = Object.getPrototypeOf(proto)
    if (proto && wrapMethod(proto, 'connect', this, wrapConnect)) this.protos.add(proto)
  }

  /** A call for one query, if it is made on behalf of a request. */
  start(client: PgClient, config: unknown): ClientCall | undefined {
    const text = textOf(config)
    if (text === undefined) return undefined
    const { shape, operation } = sqlStatement(text, 'postgresql')
    return startClientCall('postgresql', operation, shape, peerOf(client))
  }
}

/** Each client's peer, made at its first query: a client's server and database do not change. */
const peers = new WeakMap<object, CallPeer>()

function peerOf(client: PgClient): CallPeer {
  let peer = peers.get(client)
  if (peer === undefined) {
    const attributes: Record<string, string | number> = { 'db.system.name': 'postgresql' }
    if (typeof client.host === 'string') attributes['server.address'] = client.host
    const port = Number(client.port)
    if (Number.isInteger(port) && port > 0) attributes['server.port'] = port
    if (typeof client.database === 'string' && client.database !== '') attributes['db.namespace'] = client.database
    peers.set(client, (peer = { attributes }))
  }
  return peer
}

type QueryMode = 'submittable' | 'callback' | 'promise'

/** How pg will tell the query's end: a submittable's own methods, a callback, or the promise it returns. */
function modeOf(config: unknown, values: unknown, callback: unknown): QueryMode | undefined {
  if (config === null || config === undefined) return undefined
  if (typeof (config as Submittable).submit === 'function') return 'submittable'
  if (typeof values === 'function' || typeof callback === 'function') return 'callback'
  // A callback in the config object: its end cannot be seen without changing the app's object.
  if (typeof (config as { callback?: unknown }).callback === 'function') return undefined
  return 'promise'
}

function wrapQuery(original: Fn, slot: WrapSlot<PgInstrumentation>): Fn {
  return function query(this: unknown, config?: unknown, values?: unknown, callback?: unknown) {
    const target = slot.target
    if (target === undefined) return original.apply(this, arguments as unknown as unknown[])
    let call: ClientCall | undefined
    let mode: QueryMode | undefined
    let args = arguments as unknown as unknown[]
    try {
      mode = modeOf(config, values, callback)
      if (mode !== undefined) call = target.start(this as PgClient, config)
      if (call !== undefined && mode === 'submittable') observeSubmittable(config as Submittable, call)
      if (call !== undefined && mode === 'callback') {
        args = Array.prototype.slice.call(arguments)
        const at = typeof values === 'function' ? 1 : 2
        args[at] = endingCallback(args[at] as Fn, call)
      }
    } catch {
      call?.end()
      call = undefined
      args = arguments as unknown as unknown[]
    }
    if (call === undefined) return original.apply(this, arguments as unknown as unknown[])
    let result: unknown
    try {
      result = original.apply(this, args)
    } catch (error) {
      call.end(error)
      throw error
    }
    if (mode !== 'promise') return result
    if (result === null || typeof (result as { then?: unknown }).then !== 'function') {
      call.end()
      return result
    }
    // The app gets a promise that settles as pg's does, with the same value or
    // error; pg's is handled by it, so an unhandled rejection stays the app's.
    const ended = call
    return (result as Promise<unknown>).then(
      (value) => {
        ended.end()
        return value
      },
      (error: unknown) => {
        ended.end(error)
        throw error
      },
    )
  }
}

/** The app's callback, called as pg calls it (same `this`, same arguments), after the call ends. */
function endingCallback(callback: Fn, call: ClientCall): Fn {
  return function (this: unknown, error?: unknown) {
    call.end(error ?? undefined)
    return callback.apply(this, arguments as unknown as unknown[])
  }
}

/**
 * A submittable ends at its first `handleError` or `handleReadyForQuery`
 * from pg: each is shadowed on the object itself (not enumerable) until then,
 * and the object is as it was after.
 */
function observeSubmittable(query: Submittable, call: ClientCall): void {
  const names = ['handleError', 'handleReadyForQuery'] as const
  const own = names.map((name) => Object.getOwnPropertyDescriptor(query, name))
  const restore = () => {
    names.forEach((name, i) => {
      const descriptor = own[i]
      if (descriptor === undefined) delete query[name]
      else Object.defineProperty(query, name, descriptor)
    })
  }
  names.forEach((name) => {
    const original = query[name]
    if (typeof original !== 'function') return
    Object.defineProperty(query, name, {
      configurable: true, writable: true, enumerable: false,
      value: function (this: unknown, error?: unknown) {
        try {
          restore()
          call.end(name === 'handleError' ? (error ?? 'error') : undefined)
        } catch {
          // never pg's query
        }
        return original.apply(this, arguments as unknown as unknown[])
      },
    })
  })
}

function wrapConnect(original: Fn, slot: WrapSlot<PgInstrumentation>): Fn {
  return function connect(this: unknown, callback?: unknown) {
    if (slot.target !== undefined && typeof callback === 'function') {
      const args = Array.prototype.slice.call(arguments)
      args[0] = bindToRequest(callback as Fn)
      return original.apply(this, args)
    }
    return original.apply(this, arguments as unknown as unknown[])
  }
}
