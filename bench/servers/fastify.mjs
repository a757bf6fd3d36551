import Fastify from 'fastify'
const app = Fastify()
app.get('/users/:id', async (req) => ({ id: req.params.id, name: 'Ada', roles: ['admin'] }))
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
process.stdout.write('ready\n')
process.on('SIGTERM', () => app.close())
