import { startClientCall, type ClientCall } from './client-calls.js'
import { watchPackage } from './module-hook.js'
import { wantContext } from './request-context.js'
import { redisShapeOf } from './statement-shape.js'
import { TracingChannelCalls, type TraceContext } from './tracing-channel-calls.js'

/**
 * Redis through `ioredis` (6.0.0 on) and node-redis (`redis` / `@redis/client`
 * 6.0.0 on), read from the TracingChannels both publish: `ioredis:command`,
 * `node-redis:command` (pipelined commands too), and node-redis's
 * `node-redis:batch` for a MULTI (whose commands it does not trace one by
 * one). A span is the command and one `?` per argument: keys hold ids and
 * values alike, so none is kept (the libraries' own "sanitized" arguments
 * keep keys, and are not read). Loading either library makes the context
 * wanted.
 */
export class RedisInstrumentation {
  private enabled = false
  private unwatch: (() => void)[] = []
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
    this.unwatch = ['ioredis', '@redis/client'].map((name) => watchPackage(name, loaded))
  }

  disable(): void {
    if (!this.enabled) return
    this.enabled = false
    for (const channel of this.channels) channel.unsubscribe()
    for (const unwatch of this.unwatch) unwatch()
    this.unwatch = []
  }
}

function attributesOf(context: TraceContext, operation: string): Record<string, string | number> {
  const attributes: Record<string, string | number> = { 'db.system.name': 'redis', 'db.operation.name': operation }
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
  return startClientCall({ layer: 'redis', name: operation, statement: redisShapeOf(operation, args), attributes: attributesOf(context, operation) })
}

/** A node-redis MULTI: one call for the transaction (its pipelines are traced command by command). */
function startMulti(context: TraceContext): ClientCall | undefined {
  if (context.batchMode !== 'MULTI') return undefined
  const size = typeof context.batchSize === 'number' ? context.batchSize : 0
  return startClientCall({ layer: 'redis', name: 'MULTI', statement: 'MULTI', attributes: { ...attributesOf(context, 'MULTI'), 'db.operation.batch.size': size } })
}
