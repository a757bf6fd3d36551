// OpenTelemetry JS as its docs set it up: the Node SDK with the http and
// framework instrumentations, traces and metrics over OTLP/HTTP to the sink.
import { NodeSDK } from '@opentelemetry/sdk-node'
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http'
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express'
import { FastifyInstrumentation } from '@opentelemetry/instrumentation-fastify'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http'
import { PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'

const endpoint = process.env.BENCH_SINK
const sdk = new NodeSDK({
  serviceName: 'bench',
  traceExporter: new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }),
  metricReader: new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: `${endpoint}/v1/metrics` }), exportIntervalMillis: Number(process.env.BENCH_EXPORT_INTERVAL_MS ?? 5000) }),
  instrumentations: [new HttpInstrumentation(), new ExpressInstrumentation(), new FastifyInstrumentation()],
})
sdk.start()
process.on('SIGTERM', () => sdk.shutdown())
