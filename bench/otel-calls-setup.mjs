// OpenTelemetry JS for bench/calls.mjs's route, set up as otel-setup.mjs is (the Node SDK, traces and
// metrics over OTLP/HTTP to the sink), with the instrumentations issue 15's budget names: http (the
// server span), undici (fetch's client span) and pg (the query's span, and pg-pool's connect span).
import { NodeSDK } from '@opentelemetry/sdk-node'
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http'
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici'
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http'
import { PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'

const endpoint = process.env.BENCH_SINK
const sdk = new NodeSDK({
  serviceName: 'bench',
  traceExporter: new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }),
  metricReader: new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: `${endpoint}/v1/metrics` }), exportIntervalMillis: Number(process.env.BENCH_EXPORT_INTERVAL_MS ?? 5000) }),
  instrumentations: [new HttpInstrumentation(), new UndiciInstrumentation(), new PgInstrumentation()],
})
sdk.start()
process.on('SIGTERM', () => sdk.shutdown())
