import { frameworkInfo, install, nameRequest, noteError, type AgentOptions } from '@agent/core/internal'
import fp from 'fastify-plugin'
// Fastify is imported as types only: the app's own copy is instrumented.
import type { FastifyInstance, FastifyPluginCallback, onRequestHookHandler, RouteOptions } from 'fastify'

import { kInstrumented } from './symbols.js'

function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}

/**
 * A route-level onRequest hook per route, with the route's template baked in
 * at registration: nothing is looked up or allocated per request. Fastify's
 * own 404 handler has no such hook, so every unmatched URL shares one endpoint.
 */
function routeHook(url: string): onRequestHookHandler {
  return function agentRoute(request, _reply, done) {
    nameRequest(request.raw, url, request.params as Record<string, unknown>)
    done()
  }
}

/**
 * Adds the agent's hooks to a Fastify instance, synchronously, so every route
 * registered from now on gets its template. Idempotent; never throws.
 */
export function instrument<T>(app: T, options: AgentOptions = {}): T {
  return instrumentInstance(app, options, true)
}

/**
 * `routesBefore`: whether the app may have added routes before this call, which
 * only an onResponse hook on every request can name. The register preload
 * instruments each instance at its creation, before any route, and spares that.
 */
export function instrumentInstance<T>(app: T, options: AgentOptions, routesBefore: boolean): T {
  const instance = app as unknown as FastifyInstance & { [kInstrumented]?: boolean }
  if (instance[kInstrumented]) return app
  instance[kInstrumented] = true
  try {
    install({ ...options, framework: frameworkInfo('fastify') })
    instance.addHook('onRoute', function agentOnRoute(route: RouteOptions) {
      route.onRequest = [routeHook(route.url), ...asArray(route.onRequest)] as RouteOptions['onRequest']
    })
    // Errors thrown sync or async in handlers and hooks, before the app's error handler runs.
    instance.addHook('onError', function agentOnError(request, _reply, error, next) {
      noteError(request.raw, error)
      next()
    })
    // Routes the app added before the hooks existed: read their template once they answered
    // (for the others it is the name their route hook gave already).
    if (routesBefore) instance.addHook('onResponse', function agentOnResponse(request, _reply, next) {
      const url = request.routeOptions?.url
      if (url) nameRequest(request.raw, url, request.params as Record<string, unknown>)
      next()
    })
  } catch {
    // never into the app
  }
  return app
}

function agentPluginImpl(fastify: FastifyInstance, options: AgentOptions, done: (err?: Error) => void): void {
  instrument(fastify, options)
  done()
}

/** `app.register(agentPlugin)`, before the routes: measures every route of the app. */
export const agentPlugin: FastifyPluginCallback<AgentOptions> = fp(agentPluginImpl as FastifyPluginCallback<AgentOptions>, {
  name: '@agent/fastify',
  fastify: '4.x || 5.x',
})
