import { frameworkInfo, getAgent, type FrameworkInfo } from '@agent/core/internal'

/** Nest as the app resolves it. */
export type NestInfo = FrameworkInfo

const PLATFORMS = { express: '@nestjs/platform-express', fastify: '@nestjs/platform-fastify' } as const

let info: NestInfo | undefined

/** `@nestjs/core` with its version: the framework the agent reports for a Nest app. */
export function nestInfo(): NestInfo {
  return (info ??= frameworkInfo('@nestjs/core'))
}

/**
 * Notes the platform the app runs on (seen on its first request), with its
 * version: the agent reports it as agent.framework.platform.* from then on.
 */
export function notePlatform(kind: keyof typeof PLATFORMS): void {
  const agent = getAgent()
  if (agent?.framework?.name !== '@nestjs/core' || agent.framework.platform !== undefined) return
  const platform = frameworkInfo(PLATFORMS[kind])
  agent.noteFrameworkPlatform({ name: platform.name, version: platform.version })
}
