/**
 * Process across real processes and threads: primitives passed as arguments,
 * structured clone of the rest, stdout flushing, daemon children, the CJS
 * build, TypeScript modules through execArgv.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Process, ProcessError, type ProcessOptions } from '@ipc/core'
import { spawnChild, spawnCommand, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
// @ts-expect-error: a plain .mjs fixture without types
import { Counter } from './fixtures/counter.mjs'

interface TestCounter {
  name: string
  value: number
  segment: { slotOwner(slot: number): unknown; closed: boolean }
  add(n?: number): number
  close(): void
}

const functions = new URL('./fixtures/process-functions.mjs', import.meta.url)
const parent = new URL('./fixtures/process-parent.mjs', import.meta.url)
const hostile = new URL('./fixtures/process-hostile.mjs', import.meta.url)

function counter(): TestCounter {
  const c = (Counter as { create(name?: string): TestCounter }).create(uniqueName('counter'))
  onTestFinished(() => c.close())
  return c
}

function started(module: URL, options: ProcessOptions): Process {
  const child = new Process(module, { execArgv: [], ...options })
  child.start()
  onTestFinished(async () => {
    if (child.alive) child.kill('SIGKILL')
    await child.join().catch(() => {})
  })
  return child
}

/** True while `pid` runs (a zombie waiting for its new parent to reap it counts as dead). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** Slots of the counter's segment that a live or dead object still holds. */
function attachedSlots(c: TestCounter): number {
  let n = 0
  for (let s = 0; s < 128; s++) if (c.segment.slotOwner(s) !== undefined) n++
  return n
}

describe.each(['process', 'thread'] as const)('Process with a primitive argument (%s mode)', (mode) => {
  it('gives the child an attached primitive that its module never imports', { timeout: 20_000 }, async () => {
    const c = counter()
    const child = started(functions, { mode, exportName: 'addTo', args: [c, 1000] })
    expect(await child.join()).toBe(0)
    expect(c.value).toBe(1000)
    // The child closed its copy: only this process's object is attached.
    expect(attachedSlots(c)).toBe(1)
  })

  it('revives primitives nested in arrays and plain objects, once per primitive', { timeout: 20_000 }, async () => {
    const top = counter()
    const nested = counter()
    const child = started(functions, {
      mode,
      exportName: 'addTo',
      args: [top, 3, { list: [nested], deep: { counter: nested } }],
    })
    expect(await child.join()).toBe(0)
    expect(top.value).toBe(3)
    expect(nested.value).toBe(110)
    expect(attachedSlots(nested)).toBe(1)
  })

  it('runs four children on one primitive: exact total', { timeout: 30_000 }, async () => {
    const c = counter()
    const children = [1, 2, 3, 4].map(() => started(functions, { mode, exportName: 'addTo', args: [c, 5000] }))
    expect(await Promise.all(children.map((child) => child.join()))).toEqual([0, 0, 0, 0])
    expect(c.value).toBe(20_000)
  })
})

describe('Process arguments', () => {
  it('copies other arguments with structured clone: Map, Set, Date, BigInt, Buffer, Uint8Array', {
    timeout: 20_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipc-process-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const out = join(dir, 'args.json')
    const args = [
      new Map([[1, 'a']]),
      new Set([1]),
      new Date(0),
      10n ** 30n,
      Buffer.from('b'),
      new Uint8Array([1]),
      out,
    ]
    for (const mode of ['process', 'thread'] as const) {
      const child = started(new URL('./fixtures/process-args.mjs', import.meta.url), { mode, args })
      expect(await child.join()).toBe(0)
      expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({
        types: ['Map', 'Set', 'Date', 'BigInt', 'Buffer', 'Uint8Array', 'String'],
        values: ['1=a', '1', '0', (10n ** 30n).toString(), 'b', '1', out],
      })
    }
  })

  it('gives the child env and execArgv: by default this process’s', { timeout: 20_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipc-process-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const out = join(dir, 'env.json')
    const byDefault = new Process(functions, { exportName: 'writeEnvTo', args: [out], name: 'defaults' }).start()
    expect(await byDefault.join()).toBe(0)
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({
      value: null,
      execArgv: process.execArgv,
      argv: ['@ipc/process', 'defaults'],
    })
    const given = started(functions, {
      exportName: 'writeEnvTo',
      args: [out],
      env: { ...process.env, IPC_TEST_VALUE: 'set' },
      execArgv: ['--no-warnings'],
    })
    expect(await given.join()).toBe(0)
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ value: 'set', execArgv: ['--no-warnings'] })
  })

  it('runs a TypeScript module when execArgv loads tsx', { timeout: 30_000 }, async () => {
    const child = started(new URL('./fixtures/typed-function.ts', import.meta.url), {
      args: [21],
      execArgv: ['--import', 'tsx'],
    })
    expect(await child.join()).toBe(0)
  })
})

describe('Process failures', () => {
  it.each(['process', 'thread'] as const)(
    'rejects with ProcessError for an exception thrown outside the function (%s mode)',
    { timeout: 20_000 },
    async (mode) => {
      const child = started(functions, { mode, exportName: 'throwLater', args: ['from a timer'] })
      await expect(child.join()).rejects.toMatchObject({ name: 'ProcessError', childName: 'SyntaxError', exitCode: 1 })
    },
  )

  it.each(['process', 'thread'] as const)(
    'exits 13 with ProcessError when the function can never settle (%s mode)',
    { timeout: 20_000 },
    async (mode) => {
      const child = started(functions, { mode, exportName: 'neverSettles' })
      await expect(child.join()).rejects.toMatchObject({
        exitCode: 13,
        message: expect.stringContaining('never settled'),
      })
    },
  )

  it.each(['process', 'thread'] as const)(
    'flushes stdout and stderr before a failed child exits (%s mode)',
    { timeout: 20_000 },
    async (mode) => {
      const tree = spawnChild(parent, ['flush', mode])
      expect(await tree.exited).toBe(0)
      const lines = tree.stdout().split('\n')
      for (let i = 0; i < 2000; i++) expect(lines[i]).toBe(`line ${i}`)
      expect(tree.stdout()).toContain('JOINED ProcessError 1')
    },
  )
})

describe.each(['process', 'thread'] as const)('Process with a malformed result message (%s mode)', (mode) => {
  const RESULT = '@ipc/process-result'
  const unprintable = { toString: 0, valueOf: 0 }
  it.each([
    ['a name that is no string', { ok: false, error: { name: unprintable, message: 'm' } }],
    ['a message that is no string', { ok: false, error: { name: 'E', message: unprintable } }],
    ['a stack that is no string', { ok: false, error: { name: 'E', message: 'm', stack: { toString: 0 } } }],
    ['a code that is neither string nor number', { ok: false, error: { name: 'E', message: 'm', code: {} } }],
    ['ok that is no boolean', { ok: 'no', error: 'x' }],
    ['an error that is no object', { ok: false, error: 5 }],
    ['no error', { ok: false }],
  ])('rejects with ProcessError for %s, and this process goes on', { timeout: 20_000 }, async (_, fields) => {
    const child = started(hostile, { mode, exportName: 'sendResult', args: [{ type: RESULT, ...fields }] })
    await expect(child.join()).rejects.toMatchObject({
      name: 'ProcessError',
      message: expect.stringContaining('failed: the child sent a malformed result'),
      childName: undefined,
      childStack: undefined,
      exitCode: 0,
    })
  })

  it('keeps a well-formed hand-made failure, its strings cut to 64 Ki characters', { timeout: 20_000 }, async () => {
    const long = 'x'.repeat(1_000_000)
    const child = started(hostile, {
      mode,
      exportName: 'sendResult',
      args: [{ type: RESULT, ok: false, error: { name: long, message: long, stack: long, code: 7 } }],
    })
    const error = (await child.join().catch((e: unknown) => e)) as ProcessError
    expect(error).toBeInstanceOf(ProcessError)
    expect(error.childName).toBe(`${'x'.repeat(65_536)}… (cut)`)
    expect(error.childStack).toBe(error.childName)
    expect(error.message).toBe(`Process "${child.name}" failed: ${error.childName}: ${error.childName}`)
  })
})

describe.each(['process', 'thread'] as const)(
  'Process whose function throws an unprintable value (%s mode)',
  (mode) => {
    it.each([
      ['a message that cannot be turned into a string', 'message', 'Error: { toString: 0, valueOf: 0 }'],
      ['a proxy whose traps throw', 'proxy', 'threw an unprintable error'],
      ['an error whose name getter throws', 'getter', 'Error: x'],
      ['undefined', 'undefined', 'threw undefined'],
    ])('rejects with ProcessError and exit code 1 for %s', { timeout: 20_000 }, async (_, kind, what) => {
      const child = started(hostile, { mode, exportName: 'throwUnprintable', args: [kind] })
      await expect(child.join()).rejects.toMatchObject({
        name: 'ProcessError',
        message: `Process "${child.name}" failed: ${what}`,
        exitCode: 1,
      })
    })
  },
)

describe('Process out of file descriptors', () => {
  it('kill() of a process whose fork failed (no pid) returns false and signals nothing, not its own group', {
    timeout: 60_000,
  }, async () => {
    const fixture = fileURLToPath(new URL('./fixtures/kill-unspawned.mjs', import.meta.url))
    // A group of its own (setsid): a kill passed on without a pid would signal this group, not the test's.
    const child = spawnCommand(
      ['setsid', '--wait', 'sh', '-c', 'ulimit -n 64 && exec "$0" "$1"', process.execPath, fixture],
      {
        env: { PATH: process.env.PATH },
      },
    )
    // Before, it was killed by its own SIGKILL.
    expect(await child.exited, `${child.stdout()} ${child.stderr()}`).toBe(0)
    const results = JSON.parse(child.stdout().trim().split('\n').pop() ?? '[]') as {
      free: number
      pid: boolean
      killed: boolean
    }[]
    expect(results).toHaveLength(10)
    // Some start had too few descriptors for fork (no pid), and some had enough.
    expect(results.some((r) => !r.pid)).toBe(true)
    for (const r of results) expect(r.killed, JSON.stringify(r)).toBe(r.pid)
  })
})

describe('Process daemon option', () => {
  it.each(['process', 'thread'] as const)(
    'a daemon child does not keep the parent alive and is killed at its exit (%s mode)',
    { timeout: 20_000 },
    async (mode) => {
      const tree = spawnChild(parent, ['daemon', mode])
      expect(await tree.exited).toBe(0)
      expect(tree.stdout()).toContain('LEAVING alive=true')
      expect(tree.stdout()).toContain('EXIT alive=true')
      if (mode === 'process') {
        const pid = Number(/DAEMON (\d+)/.exec(tree.stdout())?.[1])
        expect(pid).toBeGreaterThan(0)
        // SIGTERM was sent at the parent's exit; give the child a moment to die.
        let alive = running(pid)
        for (let i = 0; i < 200 && alive; i++) {
          await new Promise((r) => setTimeout(r, 50))
          alive = running(pid)
        }
        expect(alive).toBe(false)
      }
    },
  )

  it.each(['process', 'thread'] as const)(
    'a non-daemon child keeps the parent alive until it ends (%s mode)',
    { timeout: 20_000 },
    async (mode) => {
      const tree = spawnChild(parent, ['non-daemon', mode])
      expect(await tree.exited).toBe(0)
      expect(tree.stdout()).toContain('EXIT exitCode=0')
    },
  )
})

describe.each(['process', 'thread'] as const)('a child whose function fails (%s mode)', (mode) => {
  it("prints the failure and its stack on its stderr, as Python prints a child's traceback, for a parent that never joins", {
    timeout: 20_000,
  }, async () => {
    const tree = spawnChild(parent, ['fails', mode])
    expect(await tree.exited).toBe(0)
    const err = tree.stderr()
    expect(err).toContain('Process "failing" failed: TypeError: bad input')
    expect(err).toContain('process-functions.mjs')
    expect(err.match(/failed:/g)).toHaveLength(1)
  })

  it('prints what it can of an error that util.inspect cannot print', { timeout: 20_000 }, async () => {
    const tree = spawnChild(parent, ['fails', mode, 'failUninspectable'])
    expect(await tree.exited).toBe(0)
    expect(tree.stderr()).toContain('Process "failing" failed: Error: bad input')
  })
})

describe('Process from the CJS build', () => {
  it('runs a child from require("@ipc/core") as well', { timeout: 20_000 }, async () => {
    const tree = spawnChild(parent, ['cjs'])
    expect(await tree.exited).toBe(0)
    expect(tree.stdout()).toContain('CJS 4 false')
  })
})

describe.each(['process', 'thread'] as const)('Process#start() in a module without a main guard (%s mode)', (mode) => {
  it('throws ProcessError in the child, naming the guard, instead of starting children without end', {
    timeout: 20_000,
  }, async () => {
    const run = spawnChild(new URL('./fixtures/no-main-guard.mjs', import.meta.url), [], {
      env: { ...process.env, GUARD_MODE: mode },
    })
    expect(await run.exited).toBe(0)
    const out = run.stdout()
    // The top-level run started one child; that child's own start() threw, so
    // no grandchild ran the worker function.
    expect(out).toContain('JOINED ProcessError 1')
    expect(out).toContain('if (!currentProcess().isChild)')
    expect(out).not.toContain('WORKER RAN')
    // The child prints the refusal itself, for parents that never join.
    expect(run.stderr()).toContain('the module starts it at its top level')
  })
})
