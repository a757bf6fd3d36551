// Requests no route answered are named by what answered them, in a few
// bounded names, and never push a routed endpoint out.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'
import { exitWithin, runFixture } from '@agent/test-helpers/processes.ts'
import { get } from '@agent/test-helpers/load.ts'

const here = fileURLToPath(new URL('.', import.meta.url))
const cwd = join(here, '..')

function options(port: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.request({ host: '127.0.0.1', port, path, method: 'OPTIONS' }, (res) => (res.resume(), res.on('end', () => resolve(res.statusCode!)))).on('error', reject).end()
  })
}

for (const express of ['express', 'express4']) {
  for (const mode of ['middleware', 'register']) {
    test(`${express}, ${mode}: 600 URLs refused at a mount, static files and automatic OPTIONS each get one name; the routes keep theirs`, async () => {
      const sink = await OtlpSink.start()
      const run = runFixture(join(here, 'fixtures', 'unrouted.cjs'), { AGENT_NAME: 'unrouted', AGENT_ENDPOINT: sink.url, AGENT_LOG_LEVEL: 'warn', AGENT_MAX_ENDPOINTS: '20', EXPRESS: express, MODE: mode }, { execArgv: mode === 'register' ? ['--require', '@agent/express/register'] : [], cwd })
      try {
        const port = (await run.waitFor(/^listening/)).split(' ')[1]!
        for (let i = 0; i < 600; i++) assert.equal((await get(`http://127.0.0.1:${port}/api/p${i}.php`)).status, 401)
        assert.equal((await get(`http://127.0.0.1:${port}/users/7`)).status, 200)
        assert.equal((await get(`http://127.0.0.1:${port}/hello.txt`)).status, 200)
        assert.equal(await options(port, '/users/7'), 200)
        run.child.send('finish')
        assert.notEqual(await exitWithin(run, 15_000), 'hung')
        assert.deepEqual(sink.requestsPerEndpoint(), { 'GET (mounted at /api)': 600, 'GET /users/:id': 1, 'GET (static files)': 1, 'OPTIONS (automatic OPTIONS)': 1 })
      } finally {
        run.kill()
        await sink.close()
      }
    })
  }
}
