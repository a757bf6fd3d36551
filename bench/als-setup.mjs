// The request context alone, as @agent enters it (bench/calls.mjs's `als` mode): one
// AsyncLocalStorage, entered with enterWith at Node's http.server.request.start channel, nothing
// recorded. What it costs is what any tracer that follows a request through its promises pays
// (async hooks on every promise on Node 20 and 22, AsyncContextFrame on Node 24).
import { AsyncLocalStorage } from 'node:async_hooks'
import dc from 'node:diagnostics_channel'

const context = new AsyncLocalStorage()
dc.subscribe('http.server.request.start', ({ request }) => context.enterWith({ request }))
