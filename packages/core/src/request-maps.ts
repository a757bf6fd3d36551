/**
 * Whether V8 gives a framework's requests one map where the framework swaps
 * each request's prototype (Express, and Nest on it: `Object.setPrototypeOf(req,
 * app.request)`). From V8 13 (Node 24) on, the swap reuses one map transition,
 * so a plain `req.route` hits V8's inline cache. Before, every request object
 * gets a map of its own and a plain read misses the cache each time (about
 * 1.4k instructions under callgrind on Node 20), where `Reflect.get` looks
 * the property up without one (about 0.24k; both in bench/instructions.mjs).
 */
export const requestMapsShared = Number.parseInt(process.versions.v8, 10) >= 13
