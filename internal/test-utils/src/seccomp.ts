/**
 * The seccomp launcher (seccomp/deny-syscall.c): runs a command in which some
 * system calls fail, as on an older kernel or under a container's profile.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll } from 'vitest'

/**
 * The system calls the launcher can deny: futex_waitv with ENOSYS (Linux
 * before 5.16), membarrier and io_uring_setup with EPERM (container profiles).
 */
export type DeniableSyscall = 'futex_waitv' | 'membarrier' | 'io_uring_setup'

const source = fileURLToPath(new URL('../seccomp/deny-syscall.c', import.meta.url))

/**
 * Compiles the launcher with `cc` into a temporary directory, removed after
 * the test file. Returns a function giving the command line that runs
 * `command` with `syscalls` denied (one, or several), or undefined (skip the tests) when there
 * is no C compiler. Call at a test file's top level.
 *
 * @example
 * ```ts
 * const denying = seccompLauncher()
 * const [file, ...args] = denying('membarrier', [process.execPath, fixture])
 * ```
 */
export function seccompLauncher():
  | ((syscalls: DeniableSyscall | readonly DeniableSyscall[], command: string[]) => string[])
  | undefined {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' })
  } catch {
    return undefined
  }
  const dir = mkdtempSync(join(tmpdir(), 'ipc-seccomp-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const binary = join(dir, 'deny-syscall')
  execFileSync('cc', ['-O2', '-Wall', '-Werror', '-o', binary, source], { stdio: 'inherit' })
  return (syscalls, command) => [binary, typeof syscalls === 'string' ? syscalls : syscalls.join(','), ...command]
}
