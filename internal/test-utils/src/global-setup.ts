/**
 * Vitest globalSetup: fails the run when the suite leaves @ipc segments in
 * /dev/shm or child processes behind. CI runs the same check over the whole run.
 */
import { readdirSync } from 'node:fs'

function segments(): Set<string> {
  try {
    return new Set(readdirSync('/dev/shm').filter((n) => n.startsWith('ipc-')))
  } catch {
    return new Set()
  }
}

let before = new Set<string>()

export function setup(): void {
  before = segments()
}

export async function teardown(): Promise<void> {
  // Give children killed in the last test a moment to be reaped.
  let left: string[] = []
  for (let i = 0; i < 20; i++) {
    left = [...segments()].filter((n) => !before.has(n))
    if (left.length === 0) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`The suite leaked ${left.length} shared-memory segment(s) in /dev/shm: ${left.join(', ')}`)
}
