import { describe, expectTypeOf, it } from 'vitest'
import {
  Client,
  type Connection,
  type EOFError,
  type IpcError,
  Listener,
  Pipe,
  type PipeHandle,
  type WireCodec,
  type WireProtocol,
  wait,
} from './index.js'

describe('public types', () => {
  it('types connections by their message type', () => {
    const [a, b] = Pipe<{ id: number }>()
    expectTypeOf(a).toEqualTypeOf<Connection<{ id: number }>>()
    expectTypeOf(b.recv()).toEqualTypeOf<Promise<{ id: number }>>()
    expectTypeOf(b.recvSync()).toEqualTypeOf<{ id: number }>()
    expectTypeOf(a.send).parameter(0).toEqualTypeOf<{ id: number }>()
    expectTypeOf(a.recvBytes()).toEqualTypeOf<Promise<Uint8Array>>()
    expectTypeOf(a.recvBytesInto(new Uint8Array(1))).toEqualTypeOf<Promise<number>>()
    expectTypeOf(a.poll()).toEqualTypeOf<Promise<boolean>>()
    expectTypeOf(a.handle).toEqualTypeOf<PipeHandle>()
  })

  it('types wait, Listener and Client', () => {
    const [a] = Pipe<string>()
    expectTypeOf(wait([a])).toEqualTypeOf<Promise<Connection<string>[]>>()
    expectTypeOf(new Listener('x').accept()).toEqualTypeOf<Promise<Connection<unknown>>>()
    expectTypeOf(Client<number>('x')).toEqualTypeOf<Promise<Connection<number>>>()
    expectTypeOf<EOFError>().toExtend<IpcError>()
  })

  it("types CPython's wire options", () => {
    expectTypeOf<WireProtocol>().toEqualTypeOf<'ipc' | 'python'>()
    expectTypeOf<WireCodec>().toEqualTypeOf<'pickle'>()
    expectTypeOf(new Listener('tcp://127.0.0.1:0', { codec: 'pickle', authkey: 'k' })).toEqualTypeOf<Listener>()
    expectTypeOf(Client('tcp://127.0.0.1:1', { protocol: 'python' })).toEqualTypeOf<Promise<Connection<unknown>>>()
    // @ts-expect-error: pickle is the only codec
    new Listener('tcp://127.0.0.1:0', { codec: 'json' })
  })
})
