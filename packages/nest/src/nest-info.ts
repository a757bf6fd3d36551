import { frameworkInfo, getAgent, type FrameworkInfo } from '@agent/core/internal'

/** Nest as the app resolves it, and, once known, the platform under it. */
export interface NestInfo extends FrameworkInfo {
  platform?: FrameworkInfo
}

const PLATFORMS = { express: '@nestjs/platform-express', fastify: '@nestjs/platform-fastify' } as const

let info: NestInfo | undefined

/** `@nestjs/core` with its version: the framework the agent reports for a Nest app. */
export function nestInfo(): NestInfo {
  return (info ??= frameworkInfo('@nestjs/core'))
}

/**
 * Notes the platform the app runs on (seen on its first request), with its
 * version, on the framework the agent reports. Core reports `name` and
 * `version`; `platform` is there for it to report as well.
 */
export function notePlatform(kind: keyof typeof PLATFORMS): void {
  const framework = getAgent()?.framework as NestInfo | undefined
  if (framework === undefined || framework.name !== '@nestjs/core' || framework.platform !== undefined) return
  framework.platform = frameworkInfo(PLATFORMS[kind])
}
