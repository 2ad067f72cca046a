import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { dirname, join } from 'node:path'
import type { RunContext } from './context.ts'

/** The machine a report was measured on; the report prints it first. */
export interface Machine {
  cpu: string
  /** Logical cores Node can use. */
  cores: number
  memoryGiB: number
  os: string
  node: string
  /** `python3 --version`, or null when Python peers were skipped. */
  python: string | null
  /** ISO 8601, when the run started. */
  date: string
  /** 1-minute load average at the start: a busy machine gives noisy numbers. */
  loadAverage: number
  /** Version of each @ipc package, and whether its build (dist/) was there. */
  packages: Record<string, { version: string; built: boolean } | null>
}

const PACKAGES = ['@ipc/core', '@ipc/queue', '@ipc/pipe', '@ipc/shared', '@ipc/semaphore', '@ipc/pool']

export function describeMachine(ctx: RunContext, date: Date): Machine {
  const require = createRequire(import.meta.url)
  const packages: Machine['packages'] = {}
  for (const name of PACKAGES) {
    try {
      const manifestPath = require.resolve(`${name}/package.json`)
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { version: string }
      packages[name] = { version: manifest.version, built: existsSync(join(dirname(manifestPath), 'dist')) }
    } catch {
      packages[name] = null
    }
  }
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    python: ctx.python?.version ?? null,
    date: date.toISOString(),
    loadAverage: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
    packages,
  }
}
