import http from 'node:http'

const agent = new http.Agent({ keepAlive: true, maxSockets: 10 })

export function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')))
  })
}

/** Sends exactly `count` requests, `concurrency` at a time; returns how many completed. */
export async function load(urlFor: (i: number) => string, count: number, concurrency = 10): Promise<number> {
  let next = 0
  let completed = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      try {
        await get(urlFor(i))
        completed++
      } catch {
        // counted as not completed
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return completed
}

export function closeLoadAgent(): void {
  agent.destroy()
}
