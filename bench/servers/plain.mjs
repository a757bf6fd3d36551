// A plain node:http server: no framework, so no integration names its requests (the agent names them at their end).
import http from 'node:http'
const server = http.createServer((req, res) => {
  const m = /^\/users\/([^/?]+)/.exec(req.url ?? '')
  if (req.method !== 'GET' || !m) return res.writeHead(404).end()
  const body = JSON.stringify({ id: m[1], name: 'Ada', roles: ['admin'] })
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body)
})
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'))
process.on('SIGTERM', () => server.close())
