// Every process-wide key of @agent/express, registered so that two copies of
// the package in one process share them.

/** An Express app: 'partial' or 'done' instrumenting (instrument-express.ts). */
export const kApp = Symbol.for('@agent/express.app')
/** A router whose final handler notes errors (instrument-express.ts). */
export const kRouterDone = Symbol.for('@agent/express.router')
/** Route.prototype of one Express copy: dispatch names requests (instrument-express.ts). */
export const kRoute = Symbol.for('@agent/express.route')
/** Layer.prototype of one Express copy: error handling notes errors (instrument-express.ts). */
export const kLayer = Symbol.for('@agent/express.layer')
/** globalThis: the register preload ran (register.ts). */
export const kRegistered = Symbol.for('@agent/express.register')
