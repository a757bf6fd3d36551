#!/usr/bin/env node
// Typechecks and runs every package's tests through turbo, one task at a time (2-core CI),
// and ends with one summary line counting node:test results across packages.
import { spawn } from 'node:child_process'

const child = spawn('npx', ['turbo', 'run', 'typecheck', 'test', '--concurrency=1', '--log-order=stream', ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' },
})
let passed = 0
let failed = 0
let skipped = 0
let buffer = ''
child.stdout.setEncoding('utf8').on('data', (chunk) => {
  process.stdout.write(chunk)
  buffer += chunk
  const lines = buffer.split('\n')
  buffer = lines.pop() ?? ''
  for (const line of lines) {
    const m = /# (pass|fail|skipped) (\d+)\s*$/.exec(line)
    if (!m) continue
    if (m[1] === 'pass') passed += Number(m[2])
    else if (m[1] === 'fail') failed += Number(m[2])
    else skipped += Number(m[2])
  }
})
child.on('exit', (code, signal) => {
  process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`)
  process.exit(code ?? (signal ? 1 : 0))
})
