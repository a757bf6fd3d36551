// `node --import @agent/nest/register dist/main.js` (or --require): the agent
// with route templates and errors from the platform (express or fastify) that
// Nest runs on. Controller.method names need AgentModule.forRoot() as well.
import './install-nest.js'
import '@agent/express/register'
import '@agent/fastify/register'
