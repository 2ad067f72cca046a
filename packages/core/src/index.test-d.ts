import { describe, expectTypeOf, it } from 'vitest'
import {
  ClosedError,
  DataCloneError,
  deserialize,
  ExistsError,
  IncompatibleError,
  IpcError,
  NotFoundError,
  notify,
  Process,
  ProcessError,
  type ProcessMode,
  type ProcessOptions,
  serialize,
  ValueError,
  type WaitResult,
  wait,
  waitSync,
} from './index.js'

describe('public types', () => {
  it('Process', () => {
    const child = new Process('./worker.mjs', { args: [1, 'a'], mode: 'thread', daemon: true, name: 'w' })
    expectTypeOf(new Process(new URL('file:///w.mjs'))).toEqualTypeOf<Process>()
    expectTypeOf(child.start()).toEqualTypeOf<Process>()
    expectTypeOf(child.join()).toEqualTypeOf<Promise<number | null>>()
    expectTypeOf(child.join).parameter(0).toEqualTypeOf<{ timeout?: number; signal?: AbortSignal } | undefined>()
    expectTypeOf(child.pid).toEqualTypeOf<number | undefined>()
    expectTypeOf(child.exitCode).toEqualTypeOf<number | null>()
    expectTypeOf(child.alive).toEqualTypeOf<boolean>()
    expectTypeOf(child.name).toEqualTypeOf<string>()
    expectTypeOf(child.mode).toEqualTypeOf<ProcessMode>()
    expectTypeOf(child.kill).toBeCallableWith('SIGKILL')
    expectTypeOf(child.kill).toBeCallableWith(9)
    expectTypeOf(child.kill()).toEqualTypeOf<boolean>()
    expectTypeOf<ProcessMode>().toEqualTypeOf<'process' | 'thread'>()
    expectTypeOf<ProcessOptions['args']>().toEqualTypeOf<readonly unknown[] | undefined>()
    // @ts-expect-error: mode is 'process' or 'thread'
    new Process('./w.mjs', { mode: 'fiber' })
    // @ts-expect-error: module is a path or a URL
    new Process(42)
  })

  it('wait / waitSync / notify', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(4))
    expectTypeOf(wait(i32, 0, 0, { timeout: 1, signal: AbortSignal.timeout(1) })).toEqualTypeOf<Promise<WaitResult>>()
    expectTypeOf(waitSync(i32, 0, 0, { timeout: 1 })).toEqualTypeOf<WaitResult>()
    expectTypeOf(notify(i32, 0)).toEqualTypeOf<number>()
    expectTypeOf<WaitResult>().toEqualTypeOf<'ok' | 'not-equal' | 'timed-out'>()
  })

  it('serialize / deserialize', () => {
    expectTypeOf(serialize({ a: 1 })).toEqualTypeOf<Uint8Array>()
    expectTypeOf(deserialize<{ a: number }>(new Uint8Array())).toEqualTypeOf<{ a: number }>()
    expectTypeOf(deserialize(new Uint8Array())).toEqualTypeOf<unknown>()
  })

  it('errors', () => {
    for (const Class of [NotFoundError, ExistsError, IncompatibleError, ClosedError, DataCloneError, ValueError]) {
      expectTypeOf(new Class('x')).toMatchTypeOf<IpcError>()
    }
    expectTypeOf(new NotFoundError('x').code).toEqualTypeOf<string>()
    expectTypeOf(IpcError.is).guards.toEqualTypeOf<IpcError>()
    const failure = new ProcessError('x', { exitCode: 1, childName: 'TypeError', childStack: 's' })
    expectTypeOf(failure.exitCode).toEqualTypeOf<number | null>()
    expectTypeOf(failure.childStack).toEqualTypeOf<string | undefined>()
  })
})
