#!/usr/bin/env node
// `npx @agent/core doctor`: run with the app's environment, in the app's
// folder, it says whether an agent started there would report, and why not.
import { doctor } from './doctor.js'

const [command] = process.argv.slice(2)
if (command !== 'doctor') {
  process.stderr.write('usage: npx @agent/core doctor\n  checks the configuration in this environment and folder, and the endpoint it names, and says what to fix.\n')
  process.exitCode = command === undefined || command === '--help' || command === '-h' ? 0 : 2
} else {
  void doctor().then((report) => {
    process.stdout.write(report.lines.join('\n') + '\n')
    process.exitCode = report.ok ? 0 : 1
  })
}
