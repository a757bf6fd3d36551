// The downstream service bench/calls.mjs's route fetches from: plain node:http, small JSON. Not measured.
const http = require('node:http')
const body = JSON.stringify({ name: 'Ada', roles: ['admin'] })
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
})
server.keepAliveTimeout = 600_000
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'))
