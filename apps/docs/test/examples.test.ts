import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  hasRedisServer,
  NO_REDIS_NOTE,
  type RedisCluster,
  type RedisServer,
  startRedisCluster,
  startRedisServer,
} from '@ipc/test-utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docsRoot, expectedOutputOf, isJavaScript, listExamples, readDocsFile } from './examples-on-disk'

// Go's testable examples: every program shown in the docs runs here, in real
// processes, against the built @ipc packages, and must print what its .out
// file says.

/** How long one example may run before it is killed and fails. */
const EXAMPLE_TIME_LIMIT_MS = 60_000

/** How long segments and processes may take to go away after the example exits. */
const CLEANUP_GRACE_MS = 3_000

const SHM_DIR = '/dev/shm'
const SEGMENT_PREFIX = 'ipc-'

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut: boolean
  pid: number
}

function listSegments(): Set<string> {
  if (!existsSync(SHM_DIR)) return new Set()
  return new Set(readdirSync(SHM_DIR).filter((name) => name.startsWith(SEGMENT_PREFIX)))
}

/**
 * Segments that some live process still maps or holds open. Other test runs
 * (of the packages) may create segments while an example runs; theirs are in
 * use, while a segment the exited example leaked is not.
 */
function segmentsInUse(): Set<string> {
  const inUse = new Set<string>()
  if (!existsSync('/proc')) return inUse
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
        const at = line.indexOf(`${SHM_DIR}/`)
        if (at >= 0) inUse.add(line.slice(at + SHM_DIR.length + 1).replace(/ \(deleted\)$/, ''))
      }
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`)
        if (target.startsWith(`${SHM_DIR}/`)) inUse.add(target.slice(SHM_DIR.length + 1))
      }
    } catch {
      // the process exited meanwhile, or is not ours to read
    }
  }
  return inUse
}

/** Segments created since `before` that no live process uses. */
function leakedSince(before: Set<string>): string[] {
  const fresh = [...listSegments()].filter((name) => !before.has(name))
  if (fresh.length === 0) return fresh
  const inUse = segmentsInUse()
  return fresh.filter((name) => !inUse.has(name))
}

/** True while any process of the example's process group is alive. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0)
    return true
  } catch {
    return false
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

/**
 * Runs the example from apps/docs, in its own process group: `node <example>.mjs`
 * (plain Node, no loader, as a JavaScript user runs it) or `node --import tsx <example>.ts`.
 */
function runExample(example: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  const env = { ...process.env, ...extraEnv }
  delete env.NODE_OPTIONS // run as a user would, not under the test runner's flags
  const args = isJavaScript(example) ? [example] : ['--import', 'tsx', example]
  const child = spawn(process.execPath, args, {
    cwd: docsRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own group, so a timeout kills the example's children too
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    if (child.pid !== undefined) killGroup(child.pid)
  }, EXAMPLE_TIME_LIMIT_MS)
  return new Promise((resolve, reject) => {
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut, pid: child.pid ?? 0 })
    })
  })
}

function lines(text: string): string[] {
  return text.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n')
}

const examples = listExamples()

/**
 * The examples under examples/python/ start their Python half (a .py file
 * beside them) with the machine's python3; without python3 they are skipped,
 * and the skip says why.
 */
const PYTHON_EXAMPLES = 'examples/python/'
function hasPython3(): boolean {
  try {
    return execFileSync('python3', ['-c', 'print(1)'], { encoding: 'utf8', timeout: 10_000 }).trim() === '1'
  } catch {
    return false
  }
}
const python3 = hasPython3()

/**
 * The examples under examples/redis/ talk to a private redis-server that this
 * file starts on a free port (their IPC_REDIS_URL), and once more to a
 * private three-node Redis Cluster (IPC_REDIS_URL naming one of its nodes;
 * the JavaScript twins), as the guide says they run unchanged on either; without redis-server
 * they are skipped, and the skip says why. CI installs it.
 */
const REDIS_EXAMPLES = 'examples/redis/'
const redisInstalled = hasRedisServer()
let redis: RedisServer | undefined
let redisCluster: RedisCluster | undefined
beforeAll(async () => {
  if (redisInstalled && examples.some((example) => example.startsWith(REDIS_EXAMPLES))) {
    redis = await startRedisServer()
    redisCluster = await startRedisCluster()
  }
})
afterAll(async () => {
  await redis?.stop()
  await redisCluster?.stop()
})

describe('docs examples', () => {
  it('exist', () => {
    expect(examples.length).toBeGreaterThan(0)
  })

  it('have a TypeScript original beside each JavaScript twin', () => {
    const orphans = examples.filter(
      (example) => isJavaScript(example) && !examples.includes(example.replace(/\.mjs$/, '.ts')),
    )
    expect(orphans).toEqual([])
  })

  // On a cluster too, in their JavaScript twins (the TypeScript originals run the same code).
  const runs = examples.flatMap((example): { example: string; on?: 'server' | 'cluster' }[] =>
    example.startsWith(REDIS_EXAMPLES)
      ? [{ example, on: 'server' as const }, ...(isJavaScript(example) ? [{ example, on: 'cluster' as const }] : [])]
      : [{ example }],
  )
  for (const { example, on } of runs) {
    const noPython = example.startsWith(PYTHON_EXAMPLES) && !python3
    const noRedis = on !== undefined && !redisInstalled
    it.skipIf(noPython || noRedis)(
      `${example}${on === 'cluster' ? ' (on a Redis Cluster)' : ''} exits 0, prints its expected output and leaves no segment or process behind${noPython ? ' (skipped: no python3 on this machine)' : ''}${noRedis ? ` (skipped: ${NO_REDIS_NOTE})` : ''}`,
      async () => {
        const expected = expectedOutputOf(example)
        if (!expected) throw new Error(`${example} has no .out or .out.unordered file beside it`)

        const segmentsBefore = listSegments()
        const url = on === 'server' ? redis?.url : on === 'cluster' ? redisCluster?.url : undefined
        const run = await runExample(example, url !== undefined ? { IPC_REDIS_URL: url } : {})
        const context = `${example}\n--- stderr ---\n${run.stderr}\n--- stdout ---\n${run.stdout}`

        // Children of the example, and segments it created, must be gone soon after it exits.
        const deadline = Date.now() + CLEANUP_GRACE_MS
        let leftovers = leakedSince(segmentsBefore)
        let strays = groupAlive(run.pid)
        while ((leftovers.length > 0 || strays) && Date.now() < deadline) {
          await sleep(50)
          leftovers = leakedSince(segmentsBefore)
          strays = groupAlive(run.pid)
        }
        if (strays) killGroup(run.pid)

        expect(run.timedOut, `timed out after ${EXAMPLE_TIME_LIMIT_MS} ms: ${context}`).toBe(false)
        expect(run.code, `exit code: ${context}`).toBe(0)
        if (expected.unordered) {
          expect(lines(run.stdout).sort(), context).toEqual(lines(readDocsFile(expected.path)).sort())
        } else {
          expect(lines(run.stdout), context).toEqual(lines(readDocsFile(expected.path)))
        }
        expect(leftovers, `segments left in ${SHM_DIR} by ${example}`).toEqual([])
        expect(strays, `processes of ${example} still alive after it exited`).toBe(false)
      },
      EXAMPLE_TIME_LIMIT_MS + CLEANUP_GRACE_MS + 5_000,
    )
  }
})
