import { startClientCall, type ClientCall } from './client-calls.js'
import { releaseMethods, wrapMethod, type WrapSlot } from './method-wrap.js'
import { watchPackage } from './module-hook.js'
import { bindToRequest } from './request-binding.js'
import { wantContext } from './request-context.js'
import { sqlStatement } from './statement-shape.js'
import { TracingChannelCalls, type TraceContext } from './tracing-channel-calls.js'

type Fn = (this: unknown, ...args: unknown[]) => unknown

/**
 * MySQL and MariaDB through `mysql2`, read from the TracingChannels it
 * publishes from 3.20.0 on: `mysql2:query` (the statement as sent, values
 * inlined, which the shape removes) and `mysql2:execute` (prepared, values
 * apart). The callback and promise APIs and pools all go through them. When
 * mysql2 is loaded, the context is wanted, and a `Pool`'s `getConnection`
 * callback is run in the context of the request that asked (not of the one
 * whose release handed it a connection), so a pooled query under load is
 * its own request's.
 */
export class Mysql2Instrumentation {
  private enabled = false
  private unwatch: (() => void) | undefined
  private readonly protos = new Set<object>()
  private readonly channels = [new TracingChannelCalls('mysql2:query', start), new TracingChannelCalls('mysql2:execute', start)]

  enable(): void {
    if (this.enabled) return
    this.enabled = true
    for (const channel of this.channels) channel.subscribe()
    this.unwatch = watchPackage('mysql2', (exports) => this.onLoad(exports))
  }

  disable(): void {
    if (!this.enabled) return
    this.enabled = false
    for (const channel of this.channels) channel.unsubscribe()
    this.unwatch?.()
    this.unwatch = undefined
    for (const proto of this.protos) releaseMethods(proto, this)
  }

  /**
   * Any module of mysql2 as it loads: the pool class is found where it is
   * defined (`lib/base/pool.js`, `lib/pool.js`) or exported (`index.js`), as
   * `mysql2/promise` loads those without loading `index.js`.
   */
  private onLoad(exports: unknown): void {
    // The first sign the app will query from its requests: they enter the context from now on.
    wantContext()
    for (const candidate of [exports, (exports as { Pool?: unknown } | undefined)?.Pool]) {
      if (typeof candidate !== 'function') continue
      let proto = (candidate as { prototype?: object }).prototype
      while (proto !== undefined && proto !== null && !Object.prototype.hasOwnProperty.call(proto, 'getConnection')) proto = Object.getPrototypeOf(proto)
      // A pool (not a PoolCluster, whose getConnection takes a pattern first): it releases connections.
      if (!proto || typeof (proto as { releaseConnection?: unknown }).releaseConnection !== 'function') continue
      if (wrapMethod(proto, 'getConnection', this, wrapGetConnection)) this.protos.add(proto)
    }
  }
}

function start(context: TraceContext): ClientCall | undefined {
  if (typeof context.query !== 'string') return undefined
  const { shape, operation } = sqlStatement(context.query, 'mysql')
  const attributes: Record<string, string | number> = { 'db.system.name': 'mysql' }
  if (typeof context.serverAddress === 'string') attributes['server.address'] = context.serverAddress
  if (typeof context.serverPort === 'number') attributes['server.port'] = context.serverPort
  if (typeof context.database === 'string' && context.database !== '') attributes['db.namespace'] = context.database
  return startClientCall('mysql', operation, shape, { attributes })
}

function wrapGetConnection(original: Fn, slot: WrapSlot<Mysql2Instrumentation>): Fn {
  return function getConnection(this: unknown, callback?: unknown) {
    if (slot.target !== undefined && typeof callback === 'function') {
      const args = Array.prototype.slice.call(arguments)
      args[0] = bindToRequest(callback as Fn)
      return original.apply(this, args)
    }
    return original.apply(this, arguments as unknown as unknown[])
  }
}
