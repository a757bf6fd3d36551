// No stack an Express app sees holds a frame of the agent: Errors created in
// a router-level middleware, a param callback, a route handler and an error
// middleware, errors thrown and passed to next(), and Express's development
// error page that prints them are byte for byte what they are without the
// agent, on Express 4 and 5, by each way in; and the agent still captures
// the errors, with their routes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { OtlpSink } from '@agent/test-helpers/otlp-sink.ts'
import { exitWithin, runFixture } from '@agent/test-helpers/processes.ts'

const here = fileURLToPath(new URL('.', import.meta.url))
const cwd = join(here, '..')
const fixture = join(here, 'fixtures', 'stacks.cjs')
/** A frame of the agent's own code: @agent/express or @agent/core, source or build. */
const AGENT_FRAME = /packages[\\/](?:core|express[\\/](?:src|dist))[\\/]|@agent[\\/]/

/** [path, status, frames the body must show, the error captured with its route (none: null)] */
type Row = [string, number, RegExp[], [string, string] | null]
const ERROR_METHOD = /at Layer\.(?:handle_error|handleError) \(/
const rows = (v5: boolean): Row[] => [
  ['/r/item/1', 200, [/== router middleware\nError: router middleware\n\s+at .*stacks\.cjs/, /== param callback\nError/, /== route handler\nError/], null],
  ['/r/item/bad', 500, [/== cause\nError: refused in a param callback\n\s+at .*stacks\.cjs/, /== error\nError: replaced in an error middleware\n\s+at .*stacks\.cjs[^\n]*\n\s+at Layer\.(?:handle_error|handleError) \(/, /== error handler\nError/], ['/r/item/:id', 'refused in a param callback']],
  ['/r/throw/2', 500, [/== cause\nError: thrown in a handler/, ERROR_METHOD], ['/r/throw/:id', 'thrown in a handler']],
  ['/r/next/3', 500, [/== cause\nError: passed to next/, ERROR_METHOD], ['/r/next/:id', 'passed to next']],
  ...(v5 ? [['/r/reject/4', 500, [/== cause\nError: rejected in an async handler/, ERROR_METHOD], ['/r/reject/:id', 'rejected in an async handler']] as Row] : []),
  // Express's final handler: its development page prints the stack.
  // Express 4 hands this one to no layer on its way (only router 2.3+, Express 5.3+, records it on the request): counted by its status only.
  ['/final/throw', 500, [/Error: thrown to the final handler<br> &nbsp; &nbsp;at .*stacks\.cjs/], v5 ? ['/final/throw', 'thrown to the final handler'] : null],
  ['/final/next', 500, [/Error: made in an error middleware, to the final handler<br> &nbsp; &nbsp;at .*stacks\.cjs[^<]*<br> &nbsp; &nbsp;at Layer\.(?:handle_error|handleError) \(/], ['/final/next', 'passed to the final handler']],
]

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

function request(port: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers: { accept: 'text/html' }, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d))
      res.on('end', () => {
        const { date: _date, ...headers } = res.headers
        resolve({ status: res.statusCode ?? 0, headers, body })
      })
    }).on('error', reject)
  })
}

async function serve(paths: string[], env: Record<string, string>, execArgv: string[] = []) {
  const sink = await OtlpSink.start()
  // NODE_ENV empty: Express's development mode, where its error page prints the stack.
  const run = runFixture(fixture, { AGENT_NAME: 'stacks', AGENT_KEY: 'k', AGENT_ENDPOINT: sink.url, AGENT_LOG_LEVEL: 'warn', NODE_ENV: '', ...env }, { execArgv, cwd })
  try {
    const port = (await run.waitFor(/^listening/)).split(' ')[1]!
    const replies: Reply[] = []
    // Twice: the first request of an app may come before the agent has met it.
    for (let round = 0; round < 2; round++) for (const path of paths) replies.push(await request(port, path))
    run.child.send('finish')
    assert.notEqual(await exitWithin(run, 15_000), 'hung')
    const errors = sink.logRecords().filter((r) => r.attributes['event.name'] === 'exception').map((r) => r.attributes)
    return { replies: replies.slice(paths.length), errors, stderr: run.stderr }
  } finally {
    run.kill()
    await sink.close()
  }
}

for (const express of ['express', 'express4']) {
  test(`${express}, development: no agent frame in any stack the app sees, responses identical, errors captured`, async () => {
    const table = rows(express === 'express')
    const paths = table.map(([path]) => path)
    const common = { EXPRESS: express, MODE: 'none' }
    const [without, middleware, instrument, register] = await Promise.all([
      serve(paths, { ...common, AGENT_MONITOR: 'false' }),
      serve(paths, { ...common, MODE: 'middleware' }),
      serve(paths, { ...common, MODE: 'instrument' }),
      serve(paths, common, ['--require', '@agent/express/register']),
    ])
    table.forEach(([path, status, frames], i) => {
      const reply = without.replies[i]!
      assert.equal(reply.status, status, `${path}: ${reply.body}`)
      for (const frame of frames) assert.match(reply.body, frame, path)
    })
    for (const [mode, run] of Object.entries({ middleware, instrument, register })) {
      assert.doesNotMatch(run.stderr, /AGENT_\w+_FAILED/)
      table.forEach(([path, , , captured], i) => {
        const reply = run.replies[i]!
        assert.doesNotMatch(reply.body, AGENT_FRAME, `${mode}: ${path}`)
        assert.deepEqual(reply, without.replies[i], `${mode}: ${path}, byte for byte as without the agent`)
        if (captured === null) return
        const [route, message] = captured
        const error = run.errors.find((e) => e['http.route'] === route)
        assert.ok(error, `${mode}: the error of ${path} captured as ${route}: ${JSON.stringify(run.errors.map((e) => e['http.route']))}`)
        assert.equal(error['exception.message'], message, `${mode}: ${path}: the first error is the cause`)
        assert.doesNotMatch(String(error['exception.stacktrace']), AGENT_FRAME, `${mode}: ${path}: the captured stack`)
      })
    }
  })
}
