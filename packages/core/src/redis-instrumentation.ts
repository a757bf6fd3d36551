import { startClientCall, type ClientCall } from './client-calls.js'
import { releaseMethods, wrapMethod, type WrapSlot } from './method-wrap.js'
import { watchPackage } from './module-hook.js'
import { wantContext } from './request-context.js'
import { redisShapeOf } from './statement-shape.js'
import { TracingChannelCalls, type TraceContext } from './tracing-channel-calls.js'

/**
 * Redis through `ioredis` (5.11.0 on) and node-redis (`redis` / `@redis/client`
 * 6.0.0 on), read from the TracingChannels both publish: `ioredis:command`,
 * `node-redis:command` (pipelined commands too), and node-redis's
 * `node-redis:batch` for a MULTI (whose commands it does not trace one by
 * one). A span is the command and one `?` per argument: keys hold ids and
 * values alike, so none is kept (the libraries' own "sanitized" arguments
 * keep keys, and are not read). Loading either library makes the context
 * wanted.
 *
 * ioredis before 5.11 publishes nothing: there, one wrapper on
 * `Redis.prototype.sendCommand` (installed when ioredis loads, once per
 * process) starts the call where the app sends the command and ends it when
 * ioredis settles the command (its own `resolve` and `reject`, wrapped on
 * that command), so the promise the app gets is ioredis's own.
 */
export class RedisInstrumentation {
  private enabled = false
  private unwatch: (() => void)[] = []
  private readonly protos = new Set<object>()
  private readonly channels = [
    new TracingChannelCalls('ioredis:command', (c) => startCommand(c, false)),
    new TracingChannelCalls('node-redis:command', (c) => startCommand(c, true)),
    new TracingChannelCalls('node-redis:batch', startMulti),
  ]

  enable(): void {
    if (this.enabled) return
    this.enabled = true
    for (const channel of this.channels) channel.subscribe()
    const loaded = (exports: unknown) => {
      if (exports !== null && (typeof exports === 'object' || typeof exports === 'function')) wantContext()
    }
    this.unwatch = [watchPackage('ioredis', (exports) => this.onIoredis(exports)), watchPackage('@redis/client', loaded)]
  }

  /** Any module of ioredis as it loads: its Redis class (`index.js`, `built/Redis.js`'s default), if it publishes nothing. */
  private onIoredis(exports: unknown): void {
    wantContext()
    const e = exports as { Redis?: unknown; default?: unknown } | undefined
    for (const candidate of [exports, e?.Redis, e?.default]) {
      const proto = typeof candidate === 'function' ? (candidate as { prototype?: Record<string, unknown> }).prototype : undefined
      if (proto === undefined || typeof proto.sendCommand !== 'function') continue
      // ioredis 5.11 and later build a trace context per command: they publish `ioredis:command`.
      if (typeof proto._buildCommandContext === 'function') continue
      if (wrapMethod(proto, 'sendCommand', this, wrapSendCommand)) this.protos.add(proto)
    }
  }

  disable(): void {
    if (!this.enabled) return
    this.enabled = false
    for (const channel of this.channels) channel.unsubscribe()
    for (const unwatch of this.unwatch) unwatch()
    this.unwatch = []
    for (const proto of this.protos) releaseMethods(proto, this)
  }
}

type Fn = (this: unknown, ...args: unknown[]) => unknown

/** What the wrapper reads of an ioredis command and client (5.x and earlier). */
interface IoredisCommand {
  name?: unknown
  args?: unknown
  resolve?: Fn
  reject?: Fn
}
interface IoredisClient {
  options?: { host?: unknown; port?: unknown; db?: unknown; path?: unknown }
  condition?: { select?: unknown }
}

/** Commands already measured: ioredis sends a command again from its offline queue. */
const sentCommands = new WeakSet<object>()

function wrapSendCommand(original: Fn, slot: WrapSlot<RedisInstrumentation>): Fn {
  return function sendCommand(this: unknown, command?: unknown) {
    if (slot.target !== undefined && command !== null && typeof command === 'object' && !sentCommands.has(command)) {
      try {
        sentCommands.add(command)
        const c = command as IoredisCommand
        const client = this as IoredisClient
        const options = client.options ?? {}
        const call = typeof c.name === 'string' ? startCommand({
          command: c.name, args: c.args,
          serverAddress: typeof options.path === 'string' && options.path !== '' ? options.path : (options.host ?? 'localhost'),
          serverPort: typeof options.path === 'string' && options.path !== '' ? undefined : (options.port ?? 6379),
          database: client.condition?.select ?? options.db ?? 0,
        }, false) : undefined
        if (call !== undefined) endWithCommand(c, call)
      } catch {
        // the command goes unmeasured; the app's command is untouched
      }
    }
    return original.apply(this, arguments as unknown as unknown[])
  }
}

/** The command's own `resolve` and `reject`, wrapped on it: the call ends when ioredis settles it. */
function endWithCommand(command: IoredisCommand, call: ClientCall): void {
  const { resolve, reject } = command
  if (typeof resolve !== 'function' || typeof reject !== 'function') return call.end()
  command.resolve = function (this: unknown) {
    call.end()
    return resolve.apply(this, arguments as unknown as unknown[])
  }
  command.reject = function (this: unknown, error?: unknown) {
    call.end(error ?? 'error')
    return reject.apply(this, arguments as unknown as unknown[])
  }
}

function attributesOf(context: TraceContext): Record<string, string | number> {
  const attributes: Record<string, string | number> = { 'db.system.name': 'redis' }
  if (typeof context.serverAddress === 'string') attributes['server.address'] = context.serverAddress
  if (typeof context.serverPort === 'number') attributes['server.port'] = context.serverPort
  if (typeof context.database === 'number' || typeof context.database === 'string') attributes['db.namespace'] = String(context.database)
  return attributes
}

/** ioredis gives the arguments without the command's name, node-redis with it. */
function startCommand(context: TraceContext, argsHaveName: boolean): ClientCall | undefined {
  if (typeof context.command !== 'string') return undefined
  const operation = context.command.toUpperCase()
  const args = Array.isArray(context.args) ? context.args.length - (argsHaveName ? 1 : 0) : 0
  return startClientCall('redis', operation, redisShapeOf(operation, args), { attributes: attributesOf(context) })
}

/** A node-redis MULTI: one call for the transaction (its pipelines are traced command by command). */
function startMulti(context: TraceContext): ClientCall | undefined {
  if (context.batchMode !== 'MULTI') return undefined
  const size = typeof context.batchSize === 'number' ? context.batchSize : 0
  const attributes = attributesOf(context)
  attributes['db.operation.batch.size'] = size
  return startClientCall('redis', 'MULTI', 'MULTI', { attributes })
}
