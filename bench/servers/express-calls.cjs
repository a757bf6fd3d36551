// The route of issue 15's budget: GET /calls/:id runs one PostgreSQL query on a
// pg.Pool and one fetch to a downstream HTTP server (DOWNSTREAM_URL, its own
// process), and answers JSON. CommonJS, so pg is loaded by require as most
// apps load it. Measured by bench/calls.mjs.
const express = require('express')
const pg = require('pg')

const pool = new pg.Pool({
  host: process.env.PGHOST, port: Number(process.env.PGPORT), user: process.env.PGUSER, password: process.env.PGPASSWORD,
  database: process.env.PGDATABASE, max: 4,
})
const downstream = process.env.DOWNSTREAM_URL
const app = express()
app.get('/calls/:id', async (req, res) => {
  const { rows } = await pool.query('SELECT $1::int AS id', [req.params.id])
  const answer = await fetch(`${downstream}/items/${req.params.id}`)
  const item = await answer.json()
  res.json({ id: rows[0].id, item })
})
// Ready once the pool has opened its connections, so the warm-up is not spent on connecting.
Promise.all(Array.from({ length: 4 }, () => pool.connect())).then((clients) => {
  for (const c of clients) c.release()
  const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'))
  process.on('SIGTERM', () => { server.close(); pool.end() })
})
