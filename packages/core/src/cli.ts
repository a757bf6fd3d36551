#!/usr/bin/env node
// `npx @agent/core doctor`: run with the app's environment, in the app's
// folder, it says whether an agent started there would report, and why not.
// `doctor -- <command>` also runs the app for a few seconds and says, per Node
// process of it (cluster and PM2 workers, forked children), whether the agent
// came up there.
import { doctor } from './doctor.js'
import { watchApp } from './doctor-watch.js'

const USAGE = `usage: npx @agent/core doctor [--seconds N] [-- <command that starts the app>]
  checks the configuration in this environment and folder, and the endpoint it names, and says what to fix;
  with a command, also runs the app for N seconds (default 5) and says, for each of its Node processes,
  whether the agent came up there (a preload that did not reach the workers).
`

async function main(argv: string[]): Promise<number> {
  if (argv[0] !== 'doctor') {
    process.stderr.write(USAGE)
    return argv[0] === undefined || argv[0] === '--help' || argv[0] === '-h' ? 0 : 2
  }
  const dashes = argv.indexOf('--')
  const own = dashes === -1 ? argv.slice(1) : argv.slice(1, dashes)
  const command = dashes === -1 ? [] : argv.slice(dashes + 1)
  let seconds = 5
  for (let i = 0; i < own.length; i++) {
    if (own[i] === '--seconds' && Number(own[i + 1]) > 0) seconds = Math.min(Number(own[++i]), 300)
    else {
      process.stderr.write(`unknown option ${own[i]}\n${USAGE}`)
      return 2
    }
  }
  const report = await doctor()
  process.stdout.write(report.lines.join('\n') + '\n')
  if (command.length === 0) return report.ok ? 0 : 1
  const watched = await watchApp(command, process.env, seconds)
  process.stdout.write(watched.lines.join('\n') + '\n')
  process.stdout.write(watched.ok ? 'every Node process of the app runs the agent.\n' : 'fix the processes above: they do not report.\n')
  return report.ok && watched.ok ? 0 : 1
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
