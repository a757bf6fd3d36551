import cluster from 'node:cluster'
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { isMainThread, threadId } from 'node:worker_threads'

export type ProcessRole = 'standalone' | 'primary' | 'worker' | 'child' | 'thread'

/** Environment the parent sets for a child it forks (see fork-hook). */
export const ENV_PARENT_INSTANCE = 'AGENT_PARENT_INSTANCE_ID'
export const ENV_ROLE = 'AGENT_PROCESS_ROLE'

export interface ProcessIdentity {
  role: ProcessRole
  instanceId: string
  parentInstanceId?: string
  pid: number
  ppid: number
  hostname: string
  workerId?: string
  threadId?: number
  pm2?: boolean
  /** When this identity was made: the agent's creation, not the process's start. */
  createdAtMs: number
}

export function detectRole(env: NodeJS.ProcessEnv = process.env): ProcessRole {
  if (!isMainThread) return 'thread'
  if (cluster.isWorker || env.NODE_UNIQUE_ID !== undefined) return 'worker'
  if (env[ENV_ROLE] === 'child') return 'child'
  return 'standalone'
}

/** A fresh identity: every process, and every start after a fork, gets its own id. */
export function newIdentity(env: NodeJS.ProcessEnv = process.env): ProcessIdentity {
  const role = detectRole(env)
  const identity: ProcessIdentity = {
    role,
    instanceId: randomUUID(),
    pid: process.pid,
    ppid: process.ppid,
    hostname: hostname(),
    createdAtMs: Date.now(),
  }
  const parent = env[ENV_PARENT_INSTANCE]
  if (parent && (role === 'worker' || role === 'child')) identity.parentInstanceId = parent
  if (role === 'worker') {
    identity.workerId = cluster.worker ? String(cluster.worker.id) : env.NODE_APP_INSTANCE ?? env.pm_id
    if (env.pm_id !== undefined) identity.pm2 = true
  }
  if (role === 'thread') identity.threadId = threadId
  return identity
}
