// Every process-wide key of @agent/nest, registered so that two copies of the
// package in one process share them.

/** ExceptionsHandler.prototype of one Nest copy: `next` notes errors (exceptions-hook.ts). */
export const kHooked = Symbol.for('@agent/nest.exceptions-handler')
/** globalThis: the register preload ran (register.ts). */
export const kRegistered = Symbol.for('@agent/nest.register')
/** RouterExplorer.prototype of one Nest copy: it names the Express routes it registers (route-handlers.ts). */
export const kExplorer = Symbol.for('@agent/nest.router-explorer')
/** globalThis: `Controller.method` of each Express route Nest registered (route-handlers.ts). */
export const kHandlerNames = Symbol.for('@agent/nest.handler-names')
