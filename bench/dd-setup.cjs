// dd-trace as its docs set it up (`--require dd-trace/init`), with the agent
// URL pointed at the sink and everything that would call off loopback turned off.
process.env.DD_TRACE_AGENT_URL = process.env.BENCH_SINK
process.env.DD_SERVICE = 'bench'
process.env.DD_TRACE_STARTUP_LOGS = 'false'
process.env.DD_INSTRUMENTATION_TELEMETRY_ENABLED = 'false'
process.env.DD_REMOTE_CONFIGURATION_ENABLED = 'false'
process.env.DD_RUNTIME_METRICS_ENABLED = 'false'
require('dd-trace/init')
