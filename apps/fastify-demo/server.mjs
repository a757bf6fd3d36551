// The shop API on Fastify 5, with the agent as a plugin. WORKERS=2 for cluster mode.
import cluster from 'node:cluster'
import http from 'node:http'
import Fastify from 'fastify'
import { agentPlugin, startSpan } from '@agent/fastify'

const workers = Number(process.env.WORKERS ?? 0)
const port = Number(process.env.PORT ?? 3000)

if (workers > 0 && cluster.isPrimary) {
  // The primary loads the agent too, so it merges its workers' numbers.
  await import('@agent/fastify/register')
  let stopping = false
  for (let i = 0; i < workers; i++) cluster.fork()
  cluster.on('exit', () => stopping || cluster.fork())
  process.once('SIGTERM', () => {
    stopping = true
    for (const worker of Object.values(cluster.workers)) worker.disconnect()
  })
} else {
  const app = Fastify()
  await app.register(agentPlugin)
  const work = (ms) => new Promise((r) => setTimeout(r, ms))

  app.get('/health', async () => 'ok')
  app.get('/api/users/:id', async (req) => {
    await work(1 + Math.random() * 4)
    return { id: req.params.id, name: `user ${req.params.id}` }
  })
  app.get('/api/products/:id/reviews', async (req) => {
    await work(2 + Math.random() * 8)
    return { product: req.params.id, reviews: [{ stars: 5 }, { stars: 3 }] }
  })
  app.post('/api/orders', async (req, reply) => {
    if (!req.body?.items?.length) return reply.code(400).send({ error: 'an order needs items' })
    return reply.code(201).send({ id: Date.now(), items: req.body.items.length })
  })
  app.get('/api/slow', async () => {
    const query = startSpan('db.query', { 'db.system': 'sqlite' })
    await work(250 + Math.random() * 300)
    query.end()
    return { report: 'done' }
  })
  app.get('/api/boom', async () => {
    throw new Error('inventory service unavailable')
  })
  app.get('/api/outbound', async () => {
    const span = startSpan('GET upstream /api/users/:id')
    const body = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/api/users/42' }, (r) => {
        let data = ''
        r.on('data', (d) => (data += d))
        r.on('end', () => resolve(data))
      }).on('error', reject)
    })
    span.end()
    return { upstream: JSON.parse(body) }
  })
  await app.listen({ port, host: '127.0.0.1' })
  if (!cluster.isWorker || cluster.worker.id === 1) process.stdout.write(`fastify-demo listening on http://127.0.0.1:${port}\n`)
}
