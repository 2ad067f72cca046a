import { createRequire } from 'node:module'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { serialize } from './codec/codec.js'
import {
  ClosedError,
  ConnectionError,
  CorruptError,
  DataCloneError,
  ExistsError,
  IncompatibleError,
  IpcError,
  invalidArgType,
  invalidArgValue,
  NativeUnavailableError,
  NotFoundError,
  outOfRange,
  PermissionError,
  ProcessError,
  shown,
  systemError,
  TimeoutError,
  ValueError,
  WorkerExitError,
} from './errors.js'
import { Segment } from './memory/segment.js'
import { Process } from './process/process.js'
import { notify, wait, waitSync } from './waiting/futex.js'
import { checkTimeout } from './waiting/signal.js'

const CLASSES = [
  [IpcError, 'IpcError', 'IPC_ERROR'],
  [NotFoundError, 'NotFoundError', 'IPC_NOT_FOUND'],
  [ExistsError, 'ExistsError', 'IPC_EXISTS'],
  [IncompatibleError, 'IncompatibleError', 'IPC_INCOMPATIBLE'],
  [ClosedError, 'ClosedError', 'IPC_CLOSED'],
  [DataCloneError, 'DataCloneError', 'IPC_DATA_CLONE'],
  [ValueError, 'ValueError', 'IPC_VALUE'],
  [TimeoutError, 'TimeoutError', 'IPC_TIMEOUT'],
  [NativeUnavailableError, 'NativeUnavailableError', 'IPC_NATIVE_UNAVAILABLE'],
  [ProcessError, 'ProcessError', 'IPC_PROCESS'],
  [PermissionError, 'PermissionError', 'IPC_PERMISSION'],
  [CorruptError, 'CorruptError', 'IPC_CORRUPT'],
  [WorkerExitError, 'WorkerExitError', 'IPC_WORKER_EXIT'],
  [ConnectionError, 'ConnectionError', 'IPC_CONNECTION'],
] as const

describe('error classes', () => {
  it.each(CLASSES)('%o has a stable name and code', (Class, name, code) => {
    const error = new Class('Something failed')
    expect(error.name).toBe(name)
    expect(error.code).toBe(code)
    expect(Class.code).toBe(code)
    expect(error.message).toBe('Something failed')
    expect(error).toBeInstanceOf(Error)
    expect(error).toBeInstanceOf(IpcError)
    expect(error).toBeInstanceOf(Class)
    expect(String(error)).toBe(`${name}: Something failed`)
    expect(error.stack).toMatch(new RegExp(`^${name}: Something failed`))
  })

  it('instanceof tells the classes apart', () => {
    const error = new NotFoundError('x')
    expect(error).not.toBeInstanceOf(ExistsError)
    expect(new IpcError('x')).not.toBeInstanceOf(NotFoundError)
    expect(new Error('x')).not.toBeInstanceOf(IpcError)
    // A lookalike without the marker is not an @ipc error.
    expect(Object.assign(new Error('x'), { code: 'IPC_NOT_FOUND' })).not.toBeInstanceOf(NotFoundError)
    expect(null).not.toBeInstanceOf(IpcError)
  })

  it('IpcError.is() checks membership and, optionally, the code', () => {
    const error = new ClosedError('x')
    expect(IpcError.is(error)).toBe(true)
    expect(IpcError.is(error, 'IPC_CLOSED')).toBe(true)
    expect(IpcError.is(error, 'IPC_EMPTY')).toBe(false)
    expect(IpcError.is(new Error('x'))).toBe(false)
    expect(IpcError.is('IPC_CLOSED')).toBe(false)
  })

  it('keeps the cause', () => {
    const cause = systemError(2, 'shm_open', '/ipc-x')
    expect(new NotFoundError('x', { cause }).cause).toBe(cause)
    expect(new NotFoundError('x')).not.toHaveProperty('cause')
  })

  it('lets other packages define errors the same way', () => {
    class Empty extends IpcError {
      static override readonly code: string = 'IPC_EMPTY'
      override name = 'Empty'
    }
    const error = new Empty('Cannot get: the queue is empty')
    expect(error).toBeInstanceOf(Empty)
    expect(error).toBeInstanceOf(IpcError)
    expect(error).not.toBeInstanceOf(NotFoundError)
    expect(error.code).toBe('IPC_EMPTY')
    expect(IpcError.is(error, 'IPC_EMPTY')).toBe(true)
    // A subclass without a code of its own matches only errors with the base code.
    class Untyped extends IpcError {}
    expect(new IpcError('x')).toBeInstanceOf(Untyped)
    expect(new NotFoundError('x')).not.toBeInstanceOf(Untyped)
  })
})

describe('errors across copies of the package', () => {
  it('instanceof, name and code work across this copy, the ESM build and the CJS build', async () => {
    const esm = (await import('@ipc/core')) as unknown as typeof import('./index.js')
    const cjs = createRequire(import.meta.url)('@ipc/core') as unknown as typeof import('./index.js')
    // Three distinct copies of the classes.
    expect(cjs.NotFoundError).not.toBe(esm.NotFoundError)
    expect(esm.NotFoundError).not.toBe(NotFoundError)
    for (const copy of [esm, cjs]) {
      const fromCopy = new copy.NotFoundError('x')
      expect(fromCopy).toBeInstanceOf(NotFoundError)
      expect(fromCopy).toBeInstanceOf(IpcError)
      expect(fromCopy).not.toBeInstanceOf(ExistsError)
      expect(new NotFoundError('x')).toBeInstanceOf(copy.NotFoundError)
      expect(new NotFoundError('x')).toBeInstanceOf(copy.IpcError)
      expect(new ExistsError('x')).not.toBeInstanceOf(copy.NotFoundError)
      expect(fromCopy.name).toBe('NotFoundError')
      expect(fromCopy.code).toBe('IPC_NOT_FOUND')
      expect(copy.IpcError.is(new ProcessError('x'), 'IPC_PROCESS')).toBe(true)
    }
    expect(new cjs.ValueError('x')).toBeInstanceOf(esm.ValueError)
  })

  it('print with their real names from the built package (ESM and CJS): IpcError, never _IpcError', async () => {
    const esm = (await import('@ipc/core')) as unknown as typeof import('./index.js')
    const cjs = createRequire(import.meta.url)('@ipc/core') as unknown as typeof import('./index.js')
    for (const copy of [esm, cjs]) {
      for (const [Class, name] of [
        [copy.IpcError, 'IpcError'],
        [copy.NotFoundError, 'NotFoundError'],
        [copy.PermissionError, 'PermissionError'],
        [copy.CorruptError, 'CorruptError'],
      ] as const) {
        expect(Class.name).toBe(name)
        const error = new Class('x')
        expect(String(error)).toBe(`${name}: x`)
        expect(inspect(error)).toMatch(new RegExp(`^${name}: x\\n`))
        expect(inspect(error)).not.toContain('_IpcError')
      }
    }
  })

  it('errors thrown by the CJS build are instances of the ESM classes', async () => {
    const esm = (await import('@ipc/core')) as unknown as typeof import('./index.js')
    const cjs = createRequire(import.meta.url)('@ipc/core') as unknown as typeof import('./index.js')
    let error: unknown
    try {
      cjs.serialize(() => {})
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(esm.DataCloneError)
    expect(error).toBeInstanceOf(DataCloneError)
  })
})

describe('ProcessError', () => {
  it('carries the exit code and the child error name and stack', () => {
    const error = new ProcessError('Process "p" failed: TypeError: bad', {
      exitCode: 1,
      childName: 'TypeError',
      childStack: 'TypeError: bad\n    at f (file:///w.mjs:1:1)',
    })
    expect(error.exitCode).toBe(1)
    expect(error.childName).toBe('TypeError')
    expect(error.childStack).toContain('w.mjs')
    expect(error.stack).toBe(
      'ProcessError: Process "p" failed: TypeError: bad\n--- in the child process ---\nTypeError: bad\n    at f (file:///w.mjs:1:1)',
    )
    expect(new ProcessError('x').exitCode).toBeNull()
  })

  it('does not print a child stack that is no string', () => {
    const childStack = { toString: 0, valueOf: 0 } as unknown as string
    expect(new ProcessError('m', { childStack }).stack).not.toContain('--- in the child process ---')
  })
})

describe('WorkerExitError', () => {
  it('carries the exit code or the signal of the worker', () => {
    const killed = new WorkerExitError('killed', { exitCode: null, signal: 'SIGKILL' })
    expect(killed.exitCode).toBeNull()
    expect(killed.signal).toBe('SIGKILL')
    const exited = new WorkerExitError('exited', { exitCode: 3 })
    expect(exited.exitCode).toBe(3)
    expect(exited.signal).toBeNull()
    expect(exited).toBeInstanceOf(IpcError)
  })
})

describe('argument errors', () => {
  it('are native TypeError / RangeError with a Node-style code', () => {
    expect(invalidArgType('m')).toBeInstanceOf(TypeError)
    expect(invalidArgType('m')).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: 'm' })
    expect(invalidArgValue('m')).toBeInstanceOf(TypeError)
    expect(invalidArgValue('m').code).toBe('ERR_INVALID_ARG_VALUE')
    expect(outOfRange('m')).toBeInstanceOf(RangeError)
    expect(outOfRange('m').code).toBe('ERR_OUT_OF_RANGE')
  })

  it('systemError describes an errno with its name, syscall and path', () => {
    expect(systemError(2, 'shm_open', '/ipc-x')).toMatchObject({
      code: 'ENOENT',
      errno: 2,
      syscall: 'shm_open',
      path: '/ipc-x',
      message: "ENOENT: shm_open '/ipc-x' failed (errno 2)",
    })
    expect(systemError(999, 'futex').code).toBe('E999')
    // The errnos the native layer reports keep the names they always had.
    const names: Record<number, string> = {
      1: 'EPERM',
      2: 'ENOENT',
      4: 'EINTR',
      9: 'EBADF',
      11: 'EAGAIN',
      12: 'ENOMEM',
      13: 'EACCES',
      14: 'EFAULT',
      17: 'EEXIST',
      22: 'EINVAL',
      24: 'EMFILE',
      28: 'ENOSPC',
      36: 'ENAMETOOLONG',
      38: 'ENOSYS',
      110: 'ETIMEDOUT',
    }
    for (const [errno, code] of Object.entries(names)) expect(systemError(Number(errno), 'x').code).toBe(code)
    expect(systemError(0, 'x').code).toBe('E0')
  })
})

describe('error messages', () => {
  it('follow the house wording: uppercase first, no trailing period, no contractions', async () => {
    const messages: string[] = []
    const collect = (fn: () => unknown) => {
      try {
        fn()
      } catch (error) {
        messages.push((error as Error).message)
      }
    }
    const kind = { kind: 'test-seg', version: 1 }
    collect(() => Segment.open(kind, 'no-such-segment-for-messages'))
    collect(() => Segment.open(kind, '/bad'))
    collect(() => Segment.open(kind, ''))
    collect(() => Segment.open(kind, 42 as never))
    collect(() => Segment.create(kind, -1))
    collect(() => serialize(Symbol('s')))
    collect(() => checkTimeout(-5))
    collect(() => checkTimeout(Number.NaN))
    collect(() => waitSync(new Int32Array(1), 3, 0))
    collect(() => waitSync([] as never, 0, 0))
    collect(() => waitSync(new Int32Array(1), 0, 0.5))
    collect(() => notify(new Int32Array(1), 0, -1))
    collect(() => new Process(42 as never))
    collect(() => new Process('x.mjs', { mode: 'fiber' as never }))
    collect(() => new Process('x.mjs').kill())
    const shared = new Int32Array(new SharedArrayBuffer(4))
    await wait(shared, 0, 0, { signal: 'x' as never }).catch((e: Error) => messages.push(e.message))
    await wait(new Int32Array(1), 0, 0).catch((e: Error) => messages.push(e.message))
    expect(messages).toHaveLength(17)
    for (const message of messages) {
      expect(message, message).toMatch(/^[A-Z]/)
      expect(message, message).not.toMatch(/\.$/)
      expect(message, message).not.toMatch(/\b(can't|won't|don't|doesn't|isn't|wasn't|didn't)\b/i)
    }
  })
})

describe('shown()', () => {
  it('quotes strings and marks bigints, so neither reads as a number', () => {
    expect(shown('10')).toBe("'10'")
    expect(shown(10n)).toBe('10n')
    expect(shown(10)).toBe('10')
    expect(shown('x'.repeat(200))).toBe(`'${'x'.repeat(100)}'... 100 more characters`)
    expect(shown("it's\n")).toBe(`"it's\\n"`)
    expect(shown(Object.create(null))).toBe('[Object: null prototype] {}')
  })
})
