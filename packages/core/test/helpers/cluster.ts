import http from 'node:http'
import { join } from 'node:path'
import { runFixture, FIXTURES, type Run } from './fixtures.ts'

export interface PrimaryEvent { event: string; pid?: number; port?: number; code?: number; signal?: string; messages?: unknown[] }

/** Starts the cluster fixture (plain Node, no loader) and tracks its events. */
export function startCluster(env: Record<string, string>): { run: Run; events: PrimaryEvent[]; waitEvent(pred: (e: PrimaryEvent) => boolean, ms?: number): Promise<PrimaryEvent> } {
  const run = runFixture(join(FIXTURES, 'cluster-app.cjs'), env, { execArgv: [], cwd: join(FIXTURES, '..', '..') })
  const events: PrimaryEvent[] = []
  const waiters: { pred: (e: PrimaryEvent) => boolean; resolve: (e: PrimaryEvent) => void }[] = []
  run.child.on('message', (m: PrimaryEvent) => {
    events.push(m)
    for (const w of [...waiters]) if (w.pred(m)) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve(m)
    }
  })
  return {
    run,
    events,
    waitEvent(pred, ms = 20_000) {
      const seen = events.find(pred)
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no such event; saw ${JSON.stringify(events)}; stderr ${run.stderr}`)), ms)
        waiters.push({ pred, resolve: (e) => (clearTimeout(timer), resolve(e)) })
      })
    },
  }
}

export interface Completion { pid: number; at: number }

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })

function request(port: number, path: string): Promise<Completion | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode === 200 ? { pid: Number(res.headers['x-pid']), at: Date.now() } : undefined))
      res.on('error', () => resolve(undefined))
    })
    req.on('error', () => resolve(undefined))
    req.setTimeout(10_000, () => req.destroy())
  })
}

/**
 * Exactly `count` requests, `concurrency` at a time; `at(i)` runs before
 * request i (to kill or restart a worker mid-run). Returns the completions.
 */
export async function clusterLoad(port: number, count: number, concurrency: number, at?: (i: number) => Promise<void> | void): Promise<Completion[]> {
  const done: Completion[] = []
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      await at?.(i)
      const c = await request(port, `/items/${i}`)
      if (c) done.push(c)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return done
}
