// Every process-wide key of @agent/fastify, registered so that two copies of
// the package in one process share them.

/** globalThis: the state shared by every copy of this package (fastify-state.ts). */
export const kState = Symbol.for('@agent/fastify.state')
/** globalThis: the register preload ran (register.ts). */
export const kRegistered = Symbol.for('@agent/fastify.register')
