import cluster from 'node:cluster'
if (cluster.isPrimary) {
  let ready = 0
  for (let i = 0; i < 2; i++) cluster.fork().on('message', (m) => m === 'ready' && ++ready === 2 && process.stdout.write('ready\n'))
  process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers)) w.disconnect() })
} else {
  const { default: express } = await import('express')
  const app = express()
  app.get('/users/:id', (req, res) => res.json({ id: req.params.id, name: 'Ada', roles: ['admin'] }))
  app.listen(Number(process.env.PORT), '127.0.0.1', () => process.send('ready'))
}
