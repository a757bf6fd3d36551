// Every process-wide key of @agent/express, registered so that two copies of
// the package in one process share them.

/** An Express app whose layers note errors (instrument-express.ts). */
export const kApp = Symbol.for('@agent/express.app')
/** Layer.prototype of one Express copy: error handling notes errors (instrument-express.ts). */
export const kLayer = Symbol.for('@agent/express.layer')
/** globalThis: the register preload ran (register.ts). */
export const kRegistered = Symbol.for('@agent/express.register')
