import { install, type AgentOptions } from '@agent/core/internal'
// Fastify is imported as types only: the app's own copy is instrumented.
import type { FastifyInstance, FastifyPluginCallback } from 'fastify'
import { instrumentInstance, paramsOfRequest, routeOfRequest } from './instrument-fastify.js'

/** Installs the agent (once per process) with Fastify as its framework. */
export function installForFastify(options: AgentOptions, version: string | undefined, loaded: boolean): void {
  const framework = { name: 'fastify', version: version ?? 'unknown' }
  install({ ...options, framework, frameworkLoaded: loaded, routeResolver: routeOfRequest, paramsResolver: paramsOfRequest })
}

/**
 * Installs the agent and instruments a Fastify instance, synchronously: routes
 * added from now on are named. Idempotent; never throws.
 */
export function instrument<T>(app: T, options: AgentOptions = {}): T {
  try {
    installForFastify(options, (app as { version?: string } | null)?.version, true)
    instrumentInstance(app, true)
  } catch {
    // never into the app
  }
  return app
}

function agentPluginImpl(fastify: FastifyInstance, options: AgentOptions, done: (err?: Error) => void): void {
  instrument(fastify, options)
  done()
}

// What fastify-plugin would set: not encapsulated (the hooks go on the instance
// that registers it), a name for printPlugins(), and the Fastify versions it supports.
Object.assign(agentPluginImpl, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@agent/fastify',
  [Symbol.for('plugin-meta')]: { name: '@agent/fastify', fastify: '4.x || 5.x' },
})

/** `await app.register(agentPlugin)`, before the routes: measures every route of the app. */
export const agentPlugin = agentPluginImpl as FastifyPluginCallback<AgentOptions>
