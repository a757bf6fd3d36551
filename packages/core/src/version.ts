/** Kept in step with package.json by the release script; tests check it. */
export const AGENT_VERSION = '0.1.0'
