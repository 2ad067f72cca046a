/**
 * Vitest globalSetup: fails the run when the suite leaves @ipc segments in
 * /dev/shm or child processes behind. CI runs the same check over the whole run.
 */
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'

function segments(): Set<string> {
  try {
    return new Set(readdirSync('/dev/shm').filter((n) => n.startsWith('ipc-')))
  } catch {
    return new Set()
  }
}

let before = new Set<string>()

/** Marks the processes this run starts (inherited by the test workers and their redis-servers). */
const RUN_ID = randomBytes(8).toString('hex')

export function setup(): void {
  before = segments()
  process.env.IPC_TEST_RUN_ID = RUN_ID
}

/**
 * Kills a redis-server of this run that outlived its test file (a worker
 * that crashed before its afterAll): nothing the suite started may outlive it.
 */
function killStrayRedisServers(): void {
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      if (!/^(redis|valkey)-server/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))) continue
      if (!readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`IPC_TEST_RUN_ID=${RUN_ID}`)) continue
      process.kill(Number(pid), 'SIGKILL')
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
}

export async function teardown(): Promise<void> {
  killStrayRedisServers()
  // Give children killed in the last test a moment to be reaped.
  let left: string[] = []
  for (let i = 0; i < 20; i++) {
    left = [...segments()].filter((n) => !before.has(n))
    if (left.length === 0) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`The suite leaked ${left.length} shared-memory segment(s) in /dev/shm: ${left.join(', ')}`)
}
