// Every process-wide key of @agent/express, registered so that two copies of
// the package in one process share them.

/** Layer.prototype of one Express copy: its error method was looked at (layer-errors.ts). */
export const kLayer = Symbol.for('@agent/express.layer')
/** globalThis: the register preload ran (register.ts). */
export const kRegistered = Symbol.for('@agent/express.register')
/** globalThis: an Express request is named as its response finishes (finish-naming.ts). */
export const kFinish = Symbol.for('@agent/express.finish')
