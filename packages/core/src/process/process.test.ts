import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { describe, expect, it, onTestFinished } from 'vitest'
import { DataCloneError, ProcessError, ValueError } from '../errors.js'
import { TRANSFER } from '../primitive/handle.js'
import {
  checkResult,
  errorFields,
  extractTransfers,
  MALFORMED_RESULT,
  MAX_RESULT_FIELD,
  Process,
  type ProcessOptions,
} from './process.js'

const functions = new URL('../../test/fixtures/process-functions.mjs', import.meta.url)

/** A started Process that is killed at the end of the test if it still runs. */
function started(options: ProcessOptions): Process {
  const child = new Process(functions, { execArgv: [], ...options })
  child.start()
  onTestFinished(async () => {
    if (child.alive) child.kill('SIGKILL')
    await child.join().catch(() => {})
  })
  return child
}

describe('new Process()', () => {
  it('resolves a relative path against the working directory and keeps URLs', () => {
    expect(new Process('some/worker.mjs').module).toBe(new URL(`file://${process.cwd()}/some/worker.mjs`).href)
    expect(new Process('/abs/worker.mjs').module).toBe('file:///abs/worker.mjs')
    expect(new Process(functions).module).toBe(functions.href)
    expect(new Process(functions.href).module).toBe(functions.href)
  })

  it('names processes Process-N unless named', () => {
    const a = new Process(functions)
    const b = new Process(functions)
    expect(a.name).toMatch(/^Process-\d+$/)
    expect(Number(b.name.slice(8))).toBe(Number(a.name.slice(8)) + 1)
    expect(new Process(functions, { name: 'jobs' }).name).toBe('jobs')
  })

  it('has no pid, no exit code and is not alive before start', () => {
    const child = new Process(functions)
    expect(child.pid).toBeUndefined()
    expect(child.exitCode).toBeNull()
    expect(child.alive).toBe(false)
    expect(child.mode).toBe('process')
    expect(child.daemon).toBe(false)
    expect(child.exportName).toBe('default')
  })

  it('refuses an option name it does not know, naming the one meant (Python: target=, not targt=)', () => {
    expect(() => new Process(functions, { exportname: 'crunch' } as never)).toThrow(
      /Unknown option "exportname" in the options\. Did you mean "exportName"\?/,
    )
    expect(() => new Process(functions, { target: 'crunch' } as never)).toThrow(/Unknown option "target"/)
  })

  it('rejects arguments of the wrong type with TypeError and a code', () => {
    const bad: [unknown, unknown][] = [
      [42, undefined],
      ['', undefined],
      [functions, { args: 'x' }],
      [functions, { exportName: '' }],
      [functions, { mode: 'fiber' }],
      [functions, { env: 'x' }],
      [functions, { execArgv: [1] }],
      [functions, { name: 1 }],
      [functions, { daemon: 'yes' }],
      [functions, null],
    ]
    for (const [module, options] of bad) {
      let error: unknown
      try {
        new Process(module as string, options as ProcessOptions)
      } catch (e) {
        error = e
      }
      expect(error, inspect([module, options])).toBeInstanceOf(TypeError)
      expect((error as { code: string }).code).toMatch(/^ERR_INVALID_ARG_(TYPE|VALUE)$/)
    }
  })

  it('answers a function instead of a module with the way to name an export', () => {
    function crunch() {}
    expect(() => new Process(crunch as never)).toThrow(
      "received a function. A child cannot receive a function: export it and name it, e.g. new Process(import.meta.url, { exportName: 'crunch' })",
    )
  })

  it('shows its state in util.inspect', () => {
    expect(inspect(new Process(functions, { name: 'shown' }))).toBe(
      "Process { name: 'shown', mode: 'process', pid: undefined, alive: false, exitCode: null }",
    )
  })
})

describe('Process#start()', () => {
  it('throws ValueError when started twice', async () => {
    const child = started({ exportName: 'exitWith', args: [0] })
    expect(() => child.start()).toThrow(ValueError)
    expect(() => child.start()).toThrow('Cannot start process "' + child.name + '": it was started already')
    expect(await child.join()).toBe(0)
  })

  it('throws DataCloneError for an argument that cannot be cloned, and starts nothing', () => {
    const child = new Process(functions, { args: [{ f: () => 1 }] })
    expect(() => child.start()).toThrow(DataCloneError)
    expect(child.alive).toBe(false)
    expect(child.pid).toBeUndefined()
    const symbol = new Process(functions, { args: [Symbol('s')] })
    expect(() => symbol.start()).toThrow(DataCloneError)
  })

  it('returns the process, with a pid while it runs', async () => {
    const child = new Process(functions, { exportName: 'sleepFor', args: [50], execArgv: [] })
    expect(child.start()).toBe(child)
    expect(child.pid).toBeGreaterThan(0)
    expect(child.pid).not.toBe(process.pid)
    expect(child.alive).toBe(true)
    expect(await child.join()).toBe(0)
    expect(child.alive).toBe(false)
  })
})

describe('Process#join()', () => {
  it('resolves 0 when the function returns', async () => {
    const child = started({ exportName: 'default', args: [1] })
    expect(await child.join()).toBe(0)
    expect(child.exitCode).toBe(0)
  })

  it("resolves the child's exit code when it calls process.exit", async () => {
    const child = started({ exportName: 'exitWith', args: [7] })
    expect(await child.join()).toBe(7)
    expect(child.exitCode).toBe(7)
  })

  it('rejects with ProcessError carrying the child error name, message and stack', async () => {
    const child = started({ exportName: 'fail', args: ['bad input'] })
    const error = await child.join().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProcessError)
    const failure = error as ProcessError
    expect(failure.code).toBe('IPC_PROCESS')
    expect(failure.message).toBe(`Process "${child.name}" failed: TypeError: bad input`)
    expect(failure.childName).toBe('TypeError')
    expect(failure.childStack).toContain('process-functions.mjs')
    expect(failure.stack).toContain('--- in the child process ---')
    expect(failure.exitCode).toBe(1)
    expect(child.exitCode).toBe(1)
    // Every join reports the same failure.
    await expect(child.join()).rejects.toBe(failure)
  })

  it('rejects with ProcessError when the returned promise rejects', async () => {
    const child = started({ exportName: 'rejectLater', args: ['too late'] })
    await expect(child.join()).rejects.toMatchObject({ name: 'ProcessError', childName: 'RangeError', exitCode: 1 })
  })

  it('rejects with ProcessError when the module or the export does not exist', async () => {
    const missing = new Process(new URL('./no-such-module.mjs', import.meta.url), { execArgv: [] }).start()
    await expect(missing.join()).rejects.toThrow(/Cannot find module/)
    const noExport = started({ exportName: 'nope' })
    await expect(noExport.join()).rejects.toThrow('has no export "nope" that is a function (found undefined)')
  })

  it('resolves null while the child runs past the timeout, then its code', async () => {
    const child = started({ exportName: 'sleepFor', args: [400] })
    expect(await child.join({ timeout: 0 })).toBeNull()
    expect(await child.join({ timeout: 50 })).toBeNull()
    expect(child.alive).toBe(true)
    // A timeout above setTimeout's limit (2 ** 31 - 1 ms) waits for the end (setTimeout alone fired after 1 ms).
    expect(await child.join({ timeout: 2 ** 31 + 5 })).toBe(0)
  })

  it('rejects with signal.reason when aborted, and the child keeps running', async () => {
    const child = started({ exportName: 'sleepFor', args: [300] })
    const controller = new AbortController()
    const joined = child.join({ signal: controller.signal })
    controller.abort()
    await expect(joined).rejects.toMatchObject({ name: 'AbortError' })
    expect(child.alive).toBe(true)
    await expect(child.join({ signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already')
    expect(await child.join()).toBe(0)
  })

  it('finishes work the function started without awaiting it, then exits 0', async () => {
    const path = join(tmpdir(), `ipc-leave-work-${process.pid}-${Date.now()}`)
    onTestFinished(() => rmSync(path, { force: true }))
    const child = started({ exportName: 'leaveWork', args: [path] })
    expect(await child.join({ timeout: 20_000 })).toBe(0)
    expect(readFileSync(path, 'utf8')).toBe('done')
  })

  it('rejects with ValueError before start, and validates its options', async () => {
    const child = new Process(functions)
    await expect(child.join()).rejects.toBeInstanceOf(ValueError)
    const running = started({ exportName: 'exitWith', args: [0] })
    await expect(running.join({ timeout: -1 })).rejects.toBeInstanceOf(RangeError)
    expect(await running.join()).toBe(0)
  })
})

describe('Process#kill()', () => {
  it('ends the child with SIGTERM by default: exit code -15', async () => {
    const child = started({ exportName: 'sleepFor', args: [20_000] })
    expect(child.kill()).toBe(true)
    expect(await child.join()).toBe(-15)
    expect(child.exitCode).toBe(-15)
    expect(child.kill()).toBe(false)
  })

  it('sends the signal given: SIGKILL gives -9', async () => {
    const child = started({ exportName: 'sleepFor', args: [20_000] })
    child.kill('SIGKILL')
    expect(await child.join()).toBe(-9)
  })

  it('throws ValueError before start and TypeError for an unknown signal', () => {
    const child = new Process(functions)
    expect(() => child.kill()).toThrow(ValueError)
    expect(() => child.kill('SIGNOPE' as NodeJS.Signals)).toThrow(TypeError)
  })
})

describe('Process in thread mode', () => {
  it('runs the function in a worker thread of this process', async () => {
    const child = started({ mode: 'thread', exportName: 'exitWith', args: [5] })
    expect(child.pid).toBe(process.pid)
    expect(await child.join()).toBe(5)
  })

  it('rejects with ProcessError when the function throws', async () => {
    const child = started({ mode: 'thread', exportName: 'fail', args: ['in a thread'] })
    await expect(child.join()).rejects.toMatchObject({
      name: 'ProcessError',
      message: `Process "${child.name}" failed: TypeError: in a thread`,
      childName: 'TypeError',
      exitCode: 1,
    })
  })

  it('reports -signal after kill', async () => {
    const child = started({ mode: 'thread', exportName: 'sleepFor', args: [20_000] })
    expect(await child.join({ timeout: 30 })).toBeNull()
    child.kill('SIGKILL')
    expect(await child.join()).toBe(-9)
  })
})

describe('extractTransfers()', () => {
  const primitive = (name: string) => ({
    [TRANSFER]: () => ({ module: 'file:///p.mjs', export: 'P', handle: { kind: 'p', name } }),
  })

  it('replaces primitives in arrays and plain objects by null and lists their paths', () => {
    const a = primitive('a')
    const b = primitive('b')
    const args = [a, { list: [1, b], deep: { a } }, new Map([[1, a]])]
    const { args: out, transfers } = extractTransfers(args)
    expect(out[0]).toBeNull()
    expect(out[1]).toEqual({ list: [1, null], deep: { a: null } })
    // Only arrays and plain objects are searched.
    expect(out[2]).toBe(args[2])
    expect(transfers).toEqual([
      {
        descriptor: { module: 'file:///p.mjs', export: 'P', handle: { kind: 'p', name: 'a' } },
        paths: [[0], [1, 'deep', 'a']],
      },
      {
        descriptor: { module: 'file:///p.mjs', export: 'P', handle: { kind: 'p', name: 'b' } },
        paths: [[1, 'list', 1]],
      },
    ])
    // The caller's containers are untouched.
    expect((args[1] as { list: unknown[] }).list[1]).toBe(b)
  })

  it('keeps cycles and shared references', () => {
    const shared = { x: 1 }
    const cyclic: Record<string, unknown> = { shared }
    cyclic.self = cyclic
    const { args: out } = extractTransfers([cyclic, shared])
    const copy = out[0] as Record<string, unknown>
    expect(copy.self).toBe(copy)
    expect(copy.shared).toBe(out[1])
  })

  it('throws TypeError when [TRANSFER]() returns something else', () => {
    expect(() => extractTransfers([{ [TRANSFER]: () => ({ module: 1 }) }])).toThrow(TypeError)
  })
})

describe('errorFields()', () => {
  it('reads the name, message, stack and code of an error', () => {
    const error = Object.assign(new RangeError('bad'), { code: 'E_BAD' })
    expect(errorFields(error)).toEqual({ name: 'RangeError', message: 'bad', stack: error.stack, code: 'E_BAD' })
    expect(errorFields('text')).toEqual({ name: undefined, message: "'text'", stack: undefined, code: undefined })
  })

  it('never throws: a field that cannot be read or printed is replaced', () => {
    const throwing = () => {
      throw new Error('trap')
    }
    const proxy = new Proxy({}, { has: throwing, get: throwing, getPrototypeOf: throwing })
    expect(errorFields(proxy)).toEqual({
      name: undefined,
      message: 'an unprintable error',
      stack: undefined,
      code: undefined,
    })
    expect(errorFields({ message: { toString: 0, valueOf: 0 } }).message).toBe('{ toString: 0, valueOf: 0 }')
    const getters = {}
    for (const key of ['name', 'message', 'stack', 'code']) Object.defineProperty(getters, key, { get: throwing })
    expect(errorFields(getters)).toEqual({
      name: 'Error',
      message: 'an unprintable error',
      stack: undefined,
      code: undefined,
    })
  })
})

describe('checkResult()', () => {
  const malformed = { ok: false, what: MALFORMED_RESULT, name: undefined, stack: undefined }

  it('keeps a well-formed result', () => {
    expect(checkResult({ ok: true })).toEqual({ ok: true })
    expect(checkResult({ ok: false, error: { name: 'E', message: 'm', stack: 's', code: 3 } })).toEqual({
      ok: false,
      what: 'E: m',
      name: 'E',
      stack: 's',
    })
    expect(checkResult({ ok: false, error: { message: 'm' } })).toEqual({
      ok: false,
      what: 'threw m',
      name: undefined,
      stack: undefined,
    })
  })

  it('gives MALFORMED_RESULT for any other shape, and never throws', () => {
    const unprintable = { toString: 0, valueOf: 0 }
    for (const message of [
      null,
      5,
      {},
      { ok: 'no', error: 'x' },
      { ok: 1 },
      { ok: false },
      { ok: false, error: 5 },
      { ok: false, error: { name: unprintable, message: 'm' } },
      { ok: false, error: { name: 'E', message: unprintable } },
      { ok: false, error: { name: 'E', message: 'm', stack: unprintable } },
      { ok: false, error: { name: 'E', message: 'm', code: unprintable } },
      { ok: false, error: { name: null, message: 'm' } },
      new Proxy(
        {},
        {
          get: () => {
            throw new Error('trap')
          },
        },
      ),
    ])
      expect(checkResult(message)).toEqual(malformed)
  })

  it(`cuts each string to ${MAX_RESULT_FIELD} characters`, () => {
    const long = 'y'.repeat(MAX_RESULT_FIELD + 1)
    const kept = `${'y'.repeat(MAX_RESULT_FIELD)}… (cut)`
    expect(checkResult({ ok: false, error: { name: long, message: long, stack: long } })).toEqual({
      ok: false,
      what: `${kept}: ${kept}`,
      name: kept,
      stack: kept,
    })
    const exact = 'y'.repeat(MAX_RESULT_FIELD)
    expect(checkResult({ ok: false, error: { message: exact } })).toMatchObject({ what: `threw ${exact}` })
  })
})
