// Every process-wide key of @agent/fastify, registered so that two copies of
// the package in one process share them.

/** A Fastify instance the agent's hooks were added to (agent-plugin.ts). */
export const kInstrumented = Symbol.for('@agent/fastify.instance')
/** globalThis: the register preload ran (register.ts). */
export const kRegistered = Symbol.for('@agent/fastify.register')
