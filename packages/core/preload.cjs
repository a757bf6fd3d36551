'use strict'
// Loaded into a child by the fork hook (`--import`), where the parent got the
// agent in code rather than by a flag: the child is monitored with the
// parent's code options and its own identity. Not bundled: it shares the
// CommonJS build with a CommonJS app.
const { install } = require('./dist/index.cjs')

let options = {}
try {
  options = JSON.parse(process.env.AGENT_INHERITED_OPTIONS || '{}')
} catch {
  // a malformed value: the child runs on its own configuration
}
install(options)
