/**
 * What the cross-process wait tests (futex, no-futex-waitv, uring-waits)
 * share: the participant fixture and the segment words it opens, the
 * environment without the async-wait switches, and children run under the
 * seccomp launcher.
 */
import { fileURLToPath } from 'node:url'
import { notify } from '@ipc/core'
import { Segment } from '@ipc/core/internal'
import {
  type DeniableSyscall,
  type SpawnedChild,
  type seccompLauncher,
  spawnCommand,
  uniqueName,
} from '@ipc/test-utils'
import { onTestFinished } from 'vitest'

/** test/fixtures/participant.mjs: a child that takes part (its first argument says how). */
export const participant = fileURLToPath(new URL('./fixtures/participant.mjs', import.meta.url))

/** The segment kind participant.mjs opens. */
const KIND = { kind: 'test-xproc', version: 1 }

/** A segment of `words` int32 words for participant.mjs, closed when the test finishes. */
export function participantWords(words: number, prefix: string): { segment: Segment; i32: Int32Array } {
  const segment = Segment.create(KIND, words * 4, { name: uniqueName(prefix) })
  onTestFinished(() => segment.close())
  return { segment, i32: new Int32Array(segment.buffer, segment.dataOffset, words) }
}

/** The environment without IPC_NO_FUTEX_WAITV and IPC_NO_IO_URING, so the probe picks the async-wait mode. */
export function probeEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.IPC_NO_FUTEX_WAITV
  delete env.IPC_NO_IO_URING
  return env
}

/** Notifies word `index` until one sleeper is woken (the child may not be asleep yet). */
export async function wakeOne(i32: Int32Array, index: number): Promise<number> {
  for (;;) {
    const woken = notify(i32, index, 1)
    if (woken > 0) return woken
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * Runs participant.mjs with `args` under the seccomp launcher, `syscalls`
 * denied, in `probeEnv()`; killed and awaited when the test finishes.
 */
export function underLauncher(
  launcher: NonNullable<ReturnType<typeof seccompLauncher>>,
  syscalls: DeniableSyscall | readonly DeniableSyscall[],
  args: string[],
): SpawnedChild {
  return spawnCommand(launcher(syscalls, [process.execPath, participant, ...args]), { env: probeEnv() })
}
