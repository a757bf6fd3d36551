// `node --import @agent/fastify/register app.mjs` (or --require): installs the
// agent before the app loads and instruments every Fastify instance the app
// creates, from Fastify's own 'fastify.initialization' channel.
import dc from 'node:diagnostics_channel'
import { frameworkInfo } from '@agent/core/internal'
import { installForFastify } from './agent-plugin.js'
import { instrumentInstance } from './instrument-fastify.js'

import { kRegistered } from './symbols.js'

const g = globalThis as Record<symbol, unknown>

if (!g[kRegistered]) {
  g[kRegistered] = true
  installForFastify({}, frameworkInfo('fastify').version, false)
  dc.subscribe('fastify.initialization', (message) => {
    try {
      // Synchronously, at creation: before the app adds its first route.
      instrumentInstance((message as { fastify: unknown }).fastify)
    } catch {
      // never into the app
    }
  })
}
