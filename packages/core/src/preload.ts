// Loaded into a child by the fork hook (`--import`), where the parent got the
// agent in code rather than by a flag: the child is monitored with the
// parent's code options and its own identity.
import { install } from './agent.js'
import { ENV_INHERITED_OPTIONS } from './fork-hook.js'

let options = {}
try {
  options = JSON.parse(process.env[ENV_INHERITED_OPTIONS] ?? '{}') as object
} catch {
  // a malformed value: the child runs on its own configuration
}
install(options)
