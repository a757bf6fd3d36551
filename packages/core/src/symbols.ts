// Every process-wide key of @agent/core, in one place. Registered symbols
// (`Symbol.for`), so every copy of the package loaded in a process (the ESM
// and CJS builds, two installed versions) finds the same slot. Each key's
// owner is named beside it.

/** globalThis: the agent and the copies loaded (global-state.ts). */
export const kGlobalState = Symbol.for('@agent/core.state')
/** globalThis: the one exit hook of the process (exit-hook.ts). */
export const kExitHook = Symbol.for('@agent/core.exit-hook')
/** globalThis: what the fork wrappers ask at each fork (fork-hook.ts). */
export const kForkHook = Symbol.for('@agent/core.fork-hook')
/** cluster.fork and child_process.fork: marks the agent's wrappers (fork-hook.ts). */
export const kForkWrapped = Symbol.for('@agent/core.fork-wrapped')
/** globalThis: the process-start report went out (agent.ts). */
export const kProcessStartReported = Symbol.for('@agent/core.process-start-reported')
/** globalThis: each connection's socket -> the record of the request it serves (http-instrumentation.ts). */
export const kConnections = Symbol.for('@agent/core.connections')
/** globalThis: records of requests pipelined behind one in flight (http-instrumentation.ts). */
export const kPipelinedRequests = Symbol.for('@agent/core.pipelined-requests')
/** An http.Server: a cluster worker hands over at its 'close' (worker-link.ts). */
export const kServerWatched = Symbol.for('@agent/core.worker-server-watched')
/** On Node 20's `ClientRequest.prototype`: the agent's one wrapper of `_implicitHeader` is installed (outbound-http.ts). */
export const kImplicitHeaderWrapped = Symbol.for('@agent/core.implicit-header-wrapped')
/** On a BullMQ processor function: the agent's measuring wrapper of it (bullmq-instrumentation.ts). */
export const kBullmqMeasured = Symbol.for('@agent/core.bullmq-measured')
/** On a prototype a client instrumentation wrapped: the slot of each method wrapped there, by name (method-wrap.ts). */
export const kWrapSlots = Symbol.for('@agent/core.method-wrap-slots')
/** On `Module`: the one wrapper of `Module._load` and its watchers, shared by every copy of the agent (module-hook.ts). */
export const kModuleLoadHook = Symbol.for('@agent/core.module-load-hook')
