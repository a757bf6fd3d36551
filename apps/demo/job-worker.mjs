// The demo's job worker: a process with no HTTP server that serves the
// 'reports' queue the web demo fills (POST /api/reports), on the Redis at
// REDIS_URL. The agent starts in code; creating the BullMQ Worker is what
// makes it report (a job framework counts as a server). About one report in
// eight fails its first attempt and is retried; one in forty fails for good.
import { install } from '@agent/core'
import { Worker } from 'bullmq'

install()
const url = new URL(process.env.REDIS_URL)
const connection = { host: url.hostname, port: Number(url.port || 6379), ...(url.password ? { password: decodeURIComponent(url.password) } : {}), db: Number(url.pathname.slice(1) || 0), maxRetriesPerRequest: null }
const work = (ms) => new Promise((r) => setTimeout(r, ms))

const worker = new Worker('reports', async (job) => {
  await work(5 + Math.random() * 20)
  if (job.data.n % 40 === 7) throw new Error(`report ${job.data.n}: the data source is gone`)
  if (job.data.n % 8 === 3 && job.attemptsMade === 0) throw new Error(`report ${job.data.n}: timed out, try again`)
  return { rows: job.data.n % 100 }
}, { connection, concurrency: 4 })
worker.on('error', () => {})
worker.waitUntilReady().then(() => process.stdout.write('job worker ready\n'))
process.once('SIGTERM', async () => {
  await worker.close()
  process.exit(0)
})
