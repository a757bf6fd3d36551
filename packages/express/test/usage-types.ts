// Type-checked only (by `typecheck`): the public API is accepted where an
// Express app takes middleware, with Express's own types.
import express from 'express'
import { agentMiddleware, instrument } from '../src/index.ts'

const app = express()
app.use(agentMiddleware())
express.Router().use(agentMiddleware({ name: 'shop' }))
instrument(express(), { name: 'shop' })
