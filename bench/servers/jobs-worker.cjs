// The job worker the jobs bench measures: a BullMQ Worker whose processor
// does nothing, on the Redis at REDIS_PORT, with the agent (BENCH_MODE=agent,
// installed in code) or without (none). It processes WARMUP jobs, pauses,
// queues WINDOW more and prints 'ready'; on a line 'go' on stdin it resumes
// and prints 'done' once the WINDOW jobs completed. bullmq is core's
// devDependency: resolved from there.
const { createRequire } = require('node:module')
const { join } = require('node:path')
if (process.env.BENCH_MODE === 'agent') require('@agent/core').install()
const { Queue, Worker } = createRequire(join(__dirname, '..', '..', 'packages', 'core', 'package.json'))('bullmq')

const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT), maxRetriesPerRequest: null }
const name = process.env.QUEUE
const warmup = Number(process.env.WARMUP)
const window = Number(process.env.WINDOW)
const opts = { removeOnComplete: true }

async function main() {
  const queue = new Queue(name, { connection })
  const worker = new Worker(name, async () => {}, { connection, concurrency: 1, autorun: false })
  let completed = 0
  let target = warmup
  let reached
  worker.on('completed', () => {
    if (++completed === target) reached()
  })
  const add = (n) => queue.addBulk(Array.from({ length: n }, (_, i) => ({ name: 'noop', data: { i }, opts })))
  await add(warmup)
  await new Promise((r) => {
    reached = r
    worker.run()
  })
  await worker.pause()
  await add(window)
  target = warmup + window
  const done = new Promise((r) => (reached = r))
  process.stdin.setEncoding('utf8').on('data', (d) => {
    if (d.includes('go')) worker.resume()
  })
  process.stdout.write('ready\n')
  await done
  process.stdout.write('done\n')
  await worker.close()
  await queue.close()
  process.exit(0)
}
main().catch((err) => {
  process.stderr.write(`${err.stack}\n`)
  process.exit(1)
})
