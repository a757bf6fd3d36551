// Loaded into a child by the fork hook (`--import`), where the parent got the
// agent in code rather than by a flag: the child is monitored with the
// parent's code options and its own identity. The build makes dist/preload.cjs
// of it, sharing its chunks with the CommonJS build a CommonJS app loads.
import { installInherited } from './install.js'

installInherited()
