import express from 'express'
const app = express()
app.get('/users/:id', (req, res) => res.json({ id: req.params.id, name: 'Ada', roles: ['admin'] }))
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'))
process.on('SIGTERM', () => server.close())
