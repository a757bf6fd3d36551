/** The version of @agent/core, sent as telemetry.sdk.version; test/version.test.ts keeps it equal to package.json's. */
export const AGENT_VERSION = '0.1.0'
