import { BullmqInstrumentation } from './bullmq-instrumentation.js'
import { Mysql2Instrumentation } from './mysql2-instrumentation.js'
import { OutboundHttp } from './outbound-http.js'
import { PgInstrumentation } from './pg-instrumentation.js'
import { RedisInstrumentation } from './redis-instrumentation.js'

/** One source of client calls (outbound HTTP, a database driver): on while the agent runs. */
export interface ClientInstrumentation {
  enable(): void
  disable(): void
  /** Enabled already while the agent stands by: what it watches for can start the agent (a job framework). */
  readonly enableInStandby?: boolean
}

/** Every source of client calls the agent reads, made once per agent. */
export function clientInstrumentations(): ClientInstrumentation[] {
  return [new OutboundHttp(), new PgInstrumentation(), new Mysql2Instrumentation(), new RedisInstrumentation(), new BullmqInstrumentation()]
}
