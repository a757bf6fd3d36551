// @agent/collector as a library: start it in a process of your own (the bin is cli.js).
export { Collector, DEFAULTS, type CollectorOptions } from './collector-server.js'
export { startCollector, type ListenOptions, type RunningCollector } from './start-collector.js'
export { applyRetention, type RetentionOptions } from './retention.js'
export { ExposureError } from './exposure.js'
export { RANGES, type RangeName } from './time-range.js'
