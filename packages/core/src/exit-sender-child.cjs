// @ts-check
'use strict'
// The child side of the exit-time sender (exit-sender.ts): a short-lived
// process that the exiting app waits for. It reads the payloads as JSON from
// stdin, POSTs each one, and exits 0 when every one got a 2xx, 1 when any
// failed, 2 at its own deadline. Plain Node with no imports of the agent, and
// started without NODE_OPTIONS, so it never loads the agent or the app.
const fs = require('node:fs')
const http = require('node:http')
const https = require('node:https')

/** @typedef {{ url: string, body: string, headers: Record<string, string> }} Item  body: base64; headers: the payload's own */
/** @typedef {{ items: Item[], headers: Record<string, string>, timeoutMs: number, ca?: string }} Job */

/** @type {Job} */
const job = JSON.parse(fs.readFileSync(0, 'utf8'))
setTimeout(() => process.exit(2), job.timeoutMs).unref()

let left = job.items.length
let failed = 0
/** @param {boolean} ok */
function done(ok) {
  if (!ok) failed++
  if (--left === 0) process.exit(failed ? 1 : 0)
}

for (const item of job.items) {
  const url = new URL(item.url)
  const body = Buffer.from(item.body, 'base64')
  const lib = url.protocol === 'https:' ? https : http
  const options = { method: 'POST', headers: { ...job.headers, ...item.headers, 'content-length': body.length }, ...(job.ca ? { ca: job.ca } : {}) }
  const req = lib.request(url, options, (res) => {
    res.resume()
    res.on('end', () => done(isSuccess(res.statusCode)))
  })
  req.on('error', () => done(false))
  req.end(body)
}

/** @param {number | undefined} status */
function isSuccess(status) {
  return status !== undefined && status >= 200 && status < 300
}
