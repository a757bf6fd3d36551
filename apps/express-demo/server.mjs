// A small shop API on Express 5. No agent code: run it with
//   node --import @agent/express/register server.mjs      (WORKERS=2 for cluster mode)
import cluster from 'node:cluster'
import http from 'node:http'
import express from 'express'
import { startSpan } from '@agent/express'

const workers = Number(process.env.WORKERS ?? 0)
const port = Number(process.env.PORT ?? 3000)

if (workers > 0 && cluster.isPrimary) {
  let stopping = false
  for (let i = 0; i < workers; i++) cluster.fork()
  cluster.on('exit', () => stopping || cluster.fork())
  // Graceful stop: workers finish their requests, hand their last numbers to the agent, and exit.
  process.once('SIGTERM', () => {
    stopping = true
    for (const worker of Object.values(cluster.workers)) worker.disconnect()
  })
} else {
  const app = express()
  app.use(express.json())
  const work = (ms) => new Promise((r) => setTimeout(r, ms))

  app.get('/health', (_req, res) => res.send('ok'))
  app.get('/api/users/:id', async (req, res) => {
    await work(1 + Math.random() * 4)
    res.json({ id: req.params.id, name: `user ${req.params.id}` })
  })
  app.get('/api/products/:id/reviews', async (req, res) => {
    await work(2 + Math.random() * 8)
    res.json({ product: req.params.id, reviews: [{ stars: 5 }, { stars: 3 }] })
  })
  app.post('/api/orders', (req, res) => {
    if (!req.body?.items?.length) return res.status(400).json({ error: 'an order needs items' })
    res.status(201).json({ id: Date.now(), items: req.body.items.length })
  })
  app.get('/api/slow', async (_req, res) => {
    const query = startSpan('db.query', { 'db.system': 'sqlite' })
    await work(250 + Math.random() * 300)
    query.end()
    const render = startSpan('render')
    await work(20)
    render.end()
    res.json({ report: 'done' })
  })
  // With a Redis (REDIS_URL, as apps/demo starts one), a report is built by
  // the job worker: the job carries this request's trace.
  const reports = process.env.REDIS_URL ? reportQueue(process.env.REDIS_URL) : undefined
  app.post('/api/reports', async (req, res) => {
    if (!reports) return res.status(503).json({ error: 'no Redis: set REDIS_URL to enqueue reports' })
    const job = await (await reports).add('build-report', { n: Number(req.body?.n ?? 0) }, { attempts: 2, removeOnComplete: 1000, removeOnFail: 1000 })
    res.status(202).json({ job: job.id })
  })
  app.get('/api/boom', () => {
    throw new Error('inventory service unavailable')
  })
  // A call to another service (this one, to need nothing else): the agent sees it
  // as a client span in the http layer, and the callee's trace continues the caller's.
  app.get('/api/outbound', async (_req, res) => {
    const body = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/api/users/42' }, (r) => {
        let data = ''
        r.on('data', (d) => (data += d))
        r.on('end', () => resolve(data))
      }).on('error', reject)
    })
    res.json({ upstream: JSON.parse(body) })
  })
  // An N+1 pattern: one call per item, in a loop, where one call for all would do.
  // The agent flags the endpoint with the call's shape and keeps an example trace.
  app.get('/api/orders/:id/summary', async (req, res) => {
    const reviews = []
    for (let item = 1; item <= 6; item++) {
      reviews.push(await (await fetch(`http://127.0.0.1:${port}/api/products/${item}/reviews`)).json())
    }
    res.json({ order: req.params.id, items: reviews.length })
  })

  // The app's own error handler: a JSON 500, the agent still sees the error.
  app.use((err, _req, res, _next) => res.status(500).json({ error: err.message }))

  const server = app.listen(port, '127.0.0.1', () => {
    if (!cluster.isWorker || cluster.worker.id === 1) process.stdout.write(`express-demo listening on http://127.0.0.1:${port}\n`)
  })
  // The queue's connection would keep a stopping process alive: closed with the server.
  const closeReports = () => reports?.then((q) => q.close()).catch(() => {})
  if (cluster.isWorker) process.once('disconnect', closeReports)
  if (!cluster.isWorker) process.once('SIGTERM', () => (server.close(), closeReports()))
}

/** The 'reports' queue on the Redis at `url` (bullmq is loaded only when there is one). */
async function reportQueue(url) {
  const { Queue } = await import('bullmq')
  const u = new URL(url)
  return new Queue('reports', { connection: { host: u.hostname, port: Number(u.port || 6379), ...(u.password ? { password: decodeURIComponent(u.password) } : {}), db: Number(u.pathname.slice(1) || 0), maxRetriesPerRequest: null } })
}
