import { frameworkInfo, type FrameworkInfo } from '@agent/core/internal'

let info: FrameworkInfo | undefined

/** Express as the app resolves it (from its working directory). */
export function expressInfo(): FrameworkInfo {
  return (info ??= frameworkInfo('express'))
}
