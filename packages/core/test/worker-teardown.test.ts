/**
 * A program whose async waits all ran in worker threads (the main thread never
 * loaded the addon) ends cleanly in every async-wait mode. Node unloads an
 * addon with the last thread that loaded it, while native threads or handles
 * of that thread's waits may still be finishing: in 'threads' mode a woken
 * sleeper thread parks for up to a second, and ran unmapped code, a segfault
 * (a SIGSEGV) on every run, until the addon was linked to stay loaded
 * (`-z nodelete`, native/binding.gyp).
 */
import { fileURLToPath } from 'node:url'
import { spawnChild } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { probeEnv } from './cross-process-waits.js'

const fixture = fileURLToPath(new URL('./fixtures/workers-end-waiting.mjs', import.meta.url))
const terminated = fileURLToPath(new URL('./fixtures/workers-terminated-in-native.mjs', import.meta.url))

describe('worker threads that end with async waits pending', () => {
  // The modes each setting may give: a kernel without io_uring futex waits (or futex_waitv) falls back.
  const modes: [string, NodeJS.ProcessEnv, RegExp][] = [
    ['the default mode', {}, /MODE (uring|waitv|threads)/],
    ["'waitv' mode (IPC_NO_IO_URING=1)", { IPC_NO_IO_URING: '1' }, /MODE (waitv|threads)/],
    ["'threads' mode (IPC_NO_FUTEX_WAITV=1)", { IPC_NO_FUTEX_WAITV: '1' }, /MODE threads/],
  ]
  it.each(modes)('leave a process that exits 0 in %s', { timeout: 30_000 }, async (_, env, mode) => {
    const child = spawnChild(fixture, [], { env: { ...probeEnv(), ...env } })
    expect(await child.exited, child.stderr()).toBe(0)
    expect(child.stdout()).toMatch(mode)
    expect(child.stdout()).toContain('SURVIVED')
  })
})

describe('worker threads terminated in the middle of addon calls', () => {
  // A terminating worker's Node-API calls fail, and node-addon-api's throw of that failure cannot
  // run: it was a fatal error of the whole process (2 runs of 3 with 60 workers) until the addon
  // was built to swallow it (NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS, native/binding.gyp).
  it('leave the process running: 60 workers calling the addon in a loop, each terminated at a random moment', {
    timeout: 60_000,
  }, async () => {
    const child = spawnChild(terminated, ['60'])
    expect(await child.exited, child.stderr()).toBe(0)
    expect(child.stdout()).toContain('SURVIVED')
  })
})
