/**
 * Test helpers shared by the @ipc packages: real child processes that are
 * always killed, unique names, and the /dev/shm leak check.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { afterAll, beforeAll, describe, onTestFinished } from 'vitest'
import {
  hasRedisServer,
  NO_REDIS_NOTE,
  type RedisCluster,
  type RedisClusterOptions,
  type RedisServer,
  type RedisServerOptions,
  startRedisCluster,
  startRedisServer,
} from './redis-server.js'

/** A name no other test uses. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`
}

/** The @ipc segments now in /dev/shm. */
export function shmSegments(): string[] {
  try {
    return readdirSync('/dev/shm').filter((n) => n.startsWith('ipc-'))
  } catch {
    return []
  }
}

/** Throws if a segment of `name` (as users see it) is still in /dev/shm. */
export function expectNoSegment(name: string): void {
  if (shmSegments().includes(`ipc-${name}`)) throw new Error(`Segment "${name}" is still in /dev/shm`)
}

export interface SpawnedChild {
  child: ChildProcess
  /** Resolves with the exit code (or -signal) when the child has exited and its output is read. */
  exited: Promise<number>
  /** Everything the child wrote to stdout so far. */
  stdout(): string
  stderr(): string
  /** Resolves when stdout contains `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>
}

const SIGNALS: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGSEGV: 11, SIGABRT: 6 }

/**
 * Starts `fixture` (a .mjs/.js file) in a child process with `args` as argv.
 * The child is killed and awaited when the current test finishes.
 */
export function spawnChild(
  fixture: string | URL,
  args: string[] = [],
  options: { env?: NodeJS.ProcessEnv } = {},
): SpawnedChild {
  const child = fork(fixture, args, {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: options.env ?? process.env,
    execArgv: [],
  })
  return watchChild(child)
}

/**
 * Starts `command` (an argv: the program, then its arguments), as the seccomp
 * launcher builds it; killed and awaited when the current test finishes, as
 * spawnChild. No IPC channel; stdin is closed.
 */
export function spawnCommand(command: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): SpawnedChild {
  const [file, ...args] = command
  const child = spawn(file as string, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env })
  return watchChild(child)
}

/**
 * Starts the Python script `script` with the machine's `python3` and `args`
 * as argv; killed and awaited when the current test finishes, as spawnChild.
 * Its stdin is a pipe (`child.stdin`); stdout is unbuffered (`-u`).
 */
export function spawnPython(script: string | URL, args: string[] = []): SpawnedChild {
  const path = typeof script === 'string' ? script : script.pathname
  const child = spawn('python3', ['-u', path, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  return watchChild(child)
}

/** True when `python3` runs on this machine (the Python interop tests skip without it). */
export function hasPython(): boolean {
  try {
    return execFileSync('python3', ['-c', 'print(1)'], { encoding: 'utf8', timeout: 10_000 }).trim() === '1'
  } catch {
    return false
  }
}

function watchChild(child: ChildProcess): SpawnedChild {
  let out = ''
  let err = ''
  const listeners = new Set<() => void>()
  child.stdout?.on('data', (d) => {
    out += d
    for (const l of listeners) l()
  })
  child.stderr?.on('data', (d) => {
    err += d
  })
  // 'exit' can come before the last stdout chunk is read: a child that prints and exits at once
  // would look as if it exited silently. So this waits for its pipes to close ('close'), or 1 s
  // after 'exit' when a grandchild still holds them.
  const exited = new Promise<number>((resolve) => {
    const settle = (code: number | null, signal: NodeJS.Signals | null) =>
      resolve(code ?? -(SIGNALS[signal ?? ''] ?? 1))
    child.on('close', settle)
    child.on('exit', (code, signal) => setTimeout(() => settle(code, signal), 1000).unref())
  })
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    waitFor(text, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (out.includes(text)) {
            listeners.delete(check)
            clearTimeout(timer)
            resolve()
          }
        }
        const timer = setTimeout(() => {
          listeners.delete(check)
          reject(new Error(`Timed out after ${timeoutMs} ms waiting for "${text}"; stdout: ${out}; stderr: ${err}`))
        }, timeoutMs)
        listeners.add(check)
        check()
        exited.then(() => {
          if (!out.includes(text)) {
            listeners.delete(check)
            clearTimeout(timer)
            const status = child.signalCode ?? child.exitCode
            reject(new Error(`The child exited (${status}) before printing "${text}"; stdout: ${out}; stderr: ${err}`))
          }
        })
      })
    },
  }
}

/** mulberry32: a small seeded PRNG (floats in [0, 1)), so a failing fuzz or stress run replays from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/**
 * `describe` for tests that need Redis: skipped (its title says why) when no
 * redis-server is installed; else one private server, started with `options`
 * (as `startRedisServer(options)`), runs from before the block's first test
 * to after its last. `server()` reads it inside a test.
 */
export function describeWithRedis(
  title: string,
  body: (server: () => RedisServer) => void,
  options?: RedisServerOptions,
): void {
  const missing = !hasRedisServer()
  describe.skipIf(missing)(`${title}${missing ? ` (skipped: ${NO_REDIS_NOTE})` : ''}`, () => {
    let server: RedisServer | undefined
    beforeAll(async () => {
      server = await startRedisServer(options)
    })
    afterAll(async () => {
      await server?.stop()
    })
    body(() => server as RedisServer)
  })
}

/**
 * `describeWithRedis` for a Redis Cluster: a private cluster of three masters
 * (`startRedisCluster(options)`) runs from before the block's first test
 * to after its last; skipped likewise when no redis-server is installed.
 */
export function describeWithRedisCluster(
  title: string,
  body: (cluster: () => RedisCluster) => void,
  options: Omit<RedisClusterOptions, 'size'> = {},
): void {
  const missing = !hasRedisServer()
  describe.skipIf(missing)(`${title}${missing ? ` (skipped: ${NO_REDIS_NOTE})` : ''}`, () => {
    let cluster: RedisCluster | undefined
    // Up to 30 s to form (and sync its replicas) on a loaded machine.
    beforeAll(async () => {
      cluster = await startRedisCluster(options)
    }, 60_000)
    afterAll(async () => {
      await cluster?.stop()
    })
    body(() => cluster as RedisCluster)
  })
}

export * from './delaying-proxy.js'
export * from './elapsed.js'
export * from './hostile-redis.js'
export * from './hostile-values.js'
export * from './owner-word-file.js'
export * from './redis-server.js'
export * from './seccomp.js'
