// The hand-off over a real cluster IPC channel: a real worker (WorkerLink)
// hands its intervals to this process, the primary (ClusterHub); counts arrive
// exactly, names and the resource travel once, an older primary gets the form
// it reads, and a hand-over the primary cannot read never throws into it.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import cluster, { type Worker } from 'node:cluster'
import { join } from 'node:path'
import { ClusterHub } from '../src/cluster-hub.ts'
import { Logger } from '../src/logger.ts'
import { AGENT_CMD } from '../src/ipc-messages.ts'
import { FIXTURES, runFixture } from './helpers/fixtures.ts'

cluster.setupPrimary({ exec: join(FIXTURES, 'hand-over-worker.cjs'), execArgv: [], silent: false })
const forked: Worker[] = []
after(() => {
  for (const w of forked) w.process.kill()
})

type Requests = [method: string, route: string, count: number, unrouted?: boolean][]

/** A worker, the agent messages it sent, and a way to ask it things over the app's channel. */
function fork() {
  const worker = cluster.fork()
  forked.push(worker)
  const sent: any[] = []
  worker.process.on('internalMessage', (m: any) => {
    if (m?.cmd === AGENT_CMD) sent.push(m)
  })
  const ask = <T,>(message: object, answer: string) =>
    new Promise<T>((resolve) => {
      const on = (m: any) => {
        if (m?.test !== answer) return
        worker.removeListener('message', on)
        resolve(m)
      }
      worker.on('message', on)
      worker.send(message)
    })
  const linked = async () => {
    for (let i = 0; i < 500; i++) {
      if ((await ask<{ usable: boolean }>({ test: 'usable' }, 'usable')).usable) return
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error('the worker never linked')
  }
  const handOver = (requests: Requests, final = false) => ask<{ written: boolean }>({ test: 'hand-over', requests, final }, 'handed-over')
  return { worker, sent, ask, linked, handOver }
}

function counts(interval: { endpoints: { method: string; route: string; count: number; errors: number; histogram: { count: number; counts: number[] } }[] }) {
  const out: Record<string, [count: number, errors: number, inHistogram: number]> = {}
  for (const e of interval.endpoints) out[`${e.method} ${e.route}`] = [e.count, e.errors, e.histogram.counts.reduce((a, b) => a + b, 0)]
  return out
}

test('hand-overs arrive exactly, packed; names and the resource travel once', async () => {
  const hub = new ClusterHub(new Logger('silent'), 1000)
  const w = fork()
  hub.register(w.worker)
  await w.linked()
  assert.equal((await w.handOver([['GET', '/a', 5], ['POST', '/b', 3], ['GET', '/404', 2, true]])).written, true)
  assert.equal((await w.handOver([['GET', '/a', 2], ['GET', '/c', 1]])).written, true)
  assert.equal((await w.handOver([])).written, true)
  const packed = w.sent.filter((m) => m.type === 'packed')
  assert.equal(packed.length, 3)
  assert.deepEqual(packed.map((m) => [m.namesFrom, m.names?.length, m.resource !== undefined]), [[0, 3, true], [3, 1, false], [undefined, undefined, false]])
  assert.equal(w.sent.some((m) => m.type === 'interval'), false)

  const { processes, marks } = hub.drain()
  assert.equal(processes.length, 1)
  assert.deepEqual(counts(processes[0]!.interval), { 'GET /a': [7, 3, 7], 'POST /b': [3, 1, 3], 'GET /404': [2, 1, 2], 'GET /c': [1, 1, 1] })
  assert.equal(processes[0]!.interval.endpoints.find((e) => e.route === '/404')!.unrouted, true)
  assert.equal(processes[0]!.handOverThrough, 3)
  assert.deepEqual(marks.map(([, seq]) => seq), [3])
  hub.acknowledge(marks)

  // Names already sent are not sent again; new ones continue the numbering.
  await w.handOver([['GET', '/a', 1], ['PUT', '/d', 4]], true)
  const last = w.sent.at(-1)
  assert.deepEqual([last.type, last.namesFrom, last.names, last.final], ['packed', 4, [['e', 'PUT', '/d']], true])
  assert.deepEqual(counts(hub.drain().processes[0]!.interval), { 'GET /a': [1, 1, 1], 'PUT /d': [4, 2, 4] })
})

test('a primary whose ack names no wire form (an older agent) gets whole intervals; a new primary still reads them', async () => {
  const w = fork()
  // An older primary: it acknowledges the hello without a wire form.
  w.worker.process.on('internalMessage', (m: any) => {
    if (m?.cmd === AGENT_CMD && m.type === 'hello') w.worker.send({ cmd: AGENT_CMD, type: 'ack', instanceId: m.instanceId } as never)
  })
  await w.linked()
  await w.handOver([['GET', '/a', 3]])
  const message = w.sent.find((m) => m.type === 'interval' || m.type === 'packed')
  assert.equal(message.type, 'interval')
  assert.deepEqual(counts(message.interval), { 'GET /a': [3, 1, 3] })

  // The other way round: an older worker's interval message, read by this primary.
  const hub = new ClusterHub(new Logger('silent'), 1000)
  const older = fork()
  hub.register(older.worker)
  await older.ask({ test: 'legacy', requests: [['GET', '/old', 4]] }, 'handed-over')
  assert.deepEqual(counts(hub.drain().processes[0]!.interval), { 'GET /old': [4, 2, 4] })
})

test('a hand-over the primary cannot read is said once and never thrown into it; the next ones merge', async () => {
  const lines: string[] = []
  const hub = new ClusterHub(new Logger('warn', (line) => lines.push(line)), 1000)
  const w = fork()
  hub.register(w.worker)
  await w.linked()
  await w.ask({ test: 'garbage' }, 'handed-over')
  await w.ask({ test: 'garbage' }, 'handed-over')
  await w.handOver([['GET', '/a', 2]])
  assert.equal(lines.length, 1)
  assert.match(lines[0]!, /AGENT_TASK_FAILED.*hand-over/)
  assert.deepEqual(counts(hub.drain().processes[0]!.interval), { 'GET /a': [2, 1, 2] })
})

test('a worker whose primary died has exactly what it handed over and was never acknowledged, past the bound where hand-overs merge', { timeout: 60_000 }, async () => {
  const primary = runFixture(join(FIXTURES, 'hand-over-primary.cjs'), {}, { execArgv: [] })
  const ask = <T,>(message: object, answer: string) =>
    new Promise<T>((resolve) => {
      const on = (m: any) => {
        if (m?.test !== answer) return
        primary.child.removeListener('message', on)
        resolve(m)
      }
      primary.child.on('message', on)
      primary.child.send(message)
    })
  try {
    for (let i = 0; !(await ask<{ usable: boolean }>({ test: 'usable' }, 'usable')).usable; i++) {
      assert.ok(i < 500, 'the worker never linked')
      await new Promise((r) => setTimeout(r, 10))
    }
    for (let i = 0; i < 3; i++) await ask({ test: 'hand-over', requests: [['GET', '/acknowledged', 1]] }, 'handed-over')
    const { seq } = await ask<{ seq: number[] }>({ test: 'acknowledge' }, 'acknowledged')
    assert.deepEqual(seq, [3])
    // Past the 128 kept, the oldest merge two by two; each names routes of its own.
    const handOvers = 140
    const expected: Record<string, number> = {}
    for (let i = 0; i < handOvers; i++) {
      const requests: Requests = [['GET', '/a', 1], ['POST', `/r${i % 7}`, (i % 3) + 1]]
      for (const [method, route, count] of requests) expected[`${method} ${route}`] = (expected[`${method} ${route}`] ?? 0) + count
      await ask({ test: 'hand-over', requests }, 'handed-over')
    }
    primary.kill('SIGKILL')
    const line = await primary.waitFor(/^ORPHANS /, 10_000)
    const orphans: { from: number; through: number; endpoints: [string, string, number][] }[] = JSON.parse(line.slice('ORPHANS '.length))
    // Every hand-over after the acknowledged ones, each once, in order.
    assert.equal(orphans[0]!.from, 4)
    assert.equal(orphans.at(-1)!.through, 3 + handOvers)
    for (let i = 1; i < orphans.length; i++) assert.equal(orphans[i]!.from, orphans[i - 1]!.through + 1)
    assert.ok(orphans.length <= 128, `${orphans.length} kept`)
    assert.ok(orphans[0]!.through > orphans[0]!.from, 'the oldest merged')
    const got: Record<string, number> = {}
    for (const o of orphans) for (const [method, route, count] of o.endpoints) got[`${method} ${route}`] = (got[`${method} ${route}`] ?? 0) + count
    assert.deepEqual(got, expected)
  } finally {
    primary.kill('SIGKILL')
  }
})

test('a worker killed outright while the primary still counts it linked: asking it for its last interval does not throw into the primary', async () => {
  const hub = new ClusterHub(new Logger('silent'), 1000)
  const w = fork()
  hub.register(w.worker)
  await w.linked()
  await w.handOver([['GET', '/a', 1]])
  w.worker.process.kill('SIGKILL')
  // The loop held: the primary has not yet heard the channel close, so the worker still looks
  // connected and the write meets a closed pipe (EPIPE), reported after this turn.
  const until = Date.now() + 300
  while (Date.now() < until) {}
  assert.equal(w.worker.isConnected(), true)
  const uncaught: unknown[] = []
  const onUncaught = (err: unknown) => uncaught.push(err)
  process.on('uncaughtException', onUncaught)
  try {
    await hub.collectFinal(Date.now() + 1000)
    await new Promise((r) => setTimeout(r, 100))
  } finally {
    process.off('uncaughtException', onUncaught)
  }
  assert.deepEqual(uncaught, [])
})
