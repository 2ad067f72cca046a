// Peers past the handshake (or a keyless loopback listener's): what their bytes can make a
// Listener hold or spend. Real sockets on 127.0.0.1; each peer is a raw node:net socket.
import type { Socket } from 'node:net'
import { TAG_BYTES, TAG_JSON_UTF8, TAG_PACKED, TAG_V8 } from '@ipc/core/internal'
import {
  collidingIntegers,
  jsonArrayOf,
  packedIndexKeyObjects,
  sleep,
  v8EmptySets,
  v8IndexKeyObjects,
  v8SetOf,
  v8SparseArrays,
} from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { CorruptError, DataCloneError } from '../src/errors.js'
import { frame } from '../src/framing.js'
import { Listener } from '../src/listener.js'
import { MAX_HASHED_NUMBERS } from '../src/pickle-reader.js'
import { rawSocket } from './raw-peer.js'

/** A keyless listener of CPython's wire on loopback: no handshake, a raw socket is a client at once. */
function pickleListener(): Listener {
  const listener = new Listener('tcp://127.0.0.1:0', { codec: 'pickle' })
  onTestFinished(() => listener.close())
  return listener
}

/** Writes `frame` `count` times as fast as the socket takes it, in the background. */
function writeRepeatedly(socket: Socket, frame: Buffer, count: number): void {
  let sent = 0
  const pump = () => {
    while (sent < count && !socket.destroyed) {
      sent++
      if (!socket.write(frame)) return
    }
  }
  socket.on('drain', pump)
  pump()
}

describe('clients waiting for accept()', () => {
  it('read no message before accept(): 4 queued clients sending 20 MiB each cost the listener almost nothing', async () => {
    const listener = pickleListener()
    const mib = Buffer.alloc(4 + 2 ** 20, 7)
    mib.writeInt32BE(2 ** 20, 0)
    const before = process.memoryUsage().arrayBuffers
    const peers = await Promise.all([0, 1, 2, 3].map(() => rawSocket(listener)))
    for (const peer of peers) writeRepeatedly(peer, mib, 20)
    await sleep(1500)
    const grown = (process.memoryUsage().arrayBuffers - before) / 2 ** 20
    // Reading ahead, each would hold 16 MiB of frames (HIGH_WATER) plus the one being filled.
    expect(grown).toBeLessThan(8)
    // Accepted, a client's messages all arrive, whole and in order.
    const conn = await listener.accept({ timeout: 1000 })
    onTestFinished(() => conn.close())
    for (let i = 0; i < 20; i++) {
      const got = await conn.recvBytes({ timeout: 5000 })
      expect(got.byteLength).toBe(2 ** 20)
      expect(got[0]).toBe(7)
    }
  })
})

/** A keyless loopback listener of the @ipc wire and a raw peer past its handshake. */
async function ipcClient() {
  const listener = new Listener('tcp://127.0.0.1:0')
  onTestFinished(() => listener.close())
  const peer = await rawSocket(listener)
  peer.write(frame(Buffer.from('#IPC-HELLO#{"v":1,"auth":false}')))
  const conn = await listener.accept({ timeout: 2000 })
  onTestFinished(() => conn.close())
  return { peer, conn }
}

/** A keyless python listener, a raw peer, and the accepted connection. */
async function pickleClient() {
  const listener = pickleListener()
  const peer = await rawSocket(listener)
  const conn = await listener.accept({ timeout: 2000 })
  onTestFinished(() => conn.close())
  return { peer, conn }
}

// Pickle opcodes (protocol 4).
const PROTO4 = [0x80, 4]
const MARK = 0x28
const STOP = 0x2e

function binint(n: number): number[] {
  const b = Buffer.alloc(5)
  b[0] = 0x4a
  b.writeInt32LE(n, 1)
  return [...b]
}

/** The pickles of a set or dict holding `n` distinct ints, in each form that hashes them. */
const numberContainers: Record<string, (n: number) => Buffer> = {
  FROZENSET: (n) =>
    Buffer.from([...PROTO4, MARK, ...Array.from({ length: n }, (_, i) => binint(i)).flat(), 0x91, STOP]),
  ADDITEMS: (n) =>
    Buffer.from([...PROTO4, 0x8f, MARK, ...Array.from({ length: n }, (_, i) => binint(i)).flat(), 0x90, STOP]),
  'builtins.set()': (n) =>
    Buffer.from([
      ...PROTO4,
      ...Buffer.from('cbuiltins\nset\n'),
      MARK,
      ...Array.from({ length: n }, (_, i) => binint(i)).flat(),
      0x6c, // LIST
      0x85, // TUPLE1
      0x52, // REDUCE
      STOP,
    ]),
  'dict with int keys': (n) =>
    Buffer.from([
      ...PROTO4,
      0x7d,
      MARK,
      ...Array.from({ length: n }, (_, i) => [...binint(i), 0x4e]).flat(),
      0x75,
      STOP,
    ]),
}

describe('numbers a pickle puts into Sets and Maps', () => {
  for (const [form, pickleOf] of Object.entries(numberContainers)) {
    it(`refuses more than MAX_HASHED_NUMBERS (${form}) with DataCloneError, and the connection goes on`, async () => {
      const { peer, conn } = await pickleClient()
      peer.write(frame(pickleOf(MAX_HASHED_NUMBERS + 1)))
      peer.write(frame(pickleOf(MAX_HASHED_NUMBERS)))
      await expect(conn.recv({ timeout: 2000 })).rejects.toThrow(DataCloneError)
      const ok = (await conn.recv({ timeout: 2000 })) as Set<number> | Map<number, null>
      expect(ok.size).toBe(MAX_HASHED_NUMBERS)
    })
  }

  it('keeps the memo out of a Map: 65,536 memo indices with colliding hashes are read in linear time', async () => {
    const { peer, conn } = await pickleClient()
    const keys = collidingIntegers(65536)
    const parts = [Buffer.from([...PROTO4, 0x4e])]
    for (const k of keys) {
      const put = Buffer.alloc(5)
      put[0] = 0x72 // LONG_BINPUT
      put.writeUInt32LE(k, 1)
      parts.push(put)
    }
    parts.push(Buffer.from([STOP]))
    peer.write(frame(Buffer.concat(parts)))
    expect(await conn.poll(2000)).toBe(true)
    const start = performance.now()
    expect(await conn.recv({ timeout: 5000 })).toBe(null)
    // In a Map these take seconds (each insertion scans the ones before); in an object, ~100 ms.
    expect(performance.now() - start).toBeLessThan(1500)
  })
})

describe('strings of lone surrogates', () => {
  it('decodes 8 MiB of them into a flat string (2 bytes a char), not a rope of ~19x the input', async () => {
    const { peer, conn } = await pickleClient()
    const chars = Math.floor((8 * 2 ** 20) / 3)
    const body = Buffer.alloc(chars * 3)
    for (let i = 0; i < chars; i++) body.set([0xed, 0xa0, 0x80], i * 3) // U+D800, as 'surrogatepass'
    const head = Buffer.alloc(5)
    head[0] = 0x58 // BINUNICODE
    head.writeUInt32LE(body.byteLength, 1)
    peer.write(frame(Buffer.concat([Buffer.from(PROTO4), head, body, Buffer.from([STOP])])))
    expect(await conn.poll(2000)).toBe(true)
    const before = process.memoryUsage().heapUsed
    const text = (await conn.recv({ timeout: 10_000 })) as string
    const grown = (process.memoryUsage().heapUsed - before) / 2 ** 20
    expect(text.length).toBe(chars)
    expect(text.charCodeAt(0)).toBe(0xd800)
    expect(text.charCodeAt(chars - 1)).toBe(0xd800)
    // The string is 16 MiB; the pieces it was joined from another 16 MiB until collected.
    expect(grown).toBeLessThan(64)
  })

  it('keeps lone surrogates, pairs and ASCII together, and refuses invalid UTF-8 with CorruptError', async () => {
    const { peer, conn } = await pickleClient()
    const text = (bytes: number[]) => {
      const head = Buffer.alloc(5)
      head[0] = 0x58
      head.writeUInt32LE(bytes.length, 1)
      return frame(Buffer.concat([Buffer.from(PROTO4), head, Buffer.from(bytes), Buffer.from([STOP])]))
    }
    // 'a', U+DC00 alone, U+1F389 (4 bytes), U+00E9, 'z'
    peer.write(text([0x61, 0xed, 0xb0, 0x80, 0xf0, 0x9f, 0x8e, 0x89, 0xc3, 0xa9, 0x7a]))
    peer.write(text([0x61, 0xed, 0xa0])) // ends inside a sequence
    peer.write(text([0x61, 0xff])) // never valid
    expect(await conn.recv({ timeout: 2000 })).toBe('a\udc00\u{1f389}\u00e9z')
    await expect(conn.recv({ timeout: 2000 })).rejects.toThrow(CorruptError)
    await expect(conn.recv({ timeout: 2000 })).rejects.toThrow(CorruptError)
  })
})

describe('messages of the @ipc wire the codec cannot revive', () => {
  it('an empty frame, an unknown tag, a v8 value nested 200,000 deep and a v8 RegExp V8 cannot compile: CorruptError each, then the next message', async () => {
    const { peer, conn } = await ipcClient()
    const nested = Buffer.concat([Buffer.from([TAG_V8, 0xff, 0x0f]), Buffer.alloc(200_000, 0x6f)]) // '{' 200,000 times
    const regexp = Buffer.from([TAG_V8, 0xff, 0x0f, 0x52, 0x22, 0x01, 0x28, 0x00]) // /(/: V8 throws SyntaxError
    peer.write(Buffer.concat([frame(Buffer.alloc(0)), frame(Buffer.from([0x63, 1])), frame(nested), frame(regexp)]))
    peer.write(frame(Buffer.from([TAG_BYTES, 1, 2, 3])))
    const errors: unknown[] = []
    for (let i = 0; i < 4; i++) errors.push(await conn.recv({ timeout: 2000 }).catch((error: unknown) => error))
    for (const error of errors) expect(error).toBeInstanceOf(CorruptError)
    // A decoder's own failure says which message, as on a trusted end, with the decoder's error as cause.
    expect((errors[1] as Error).message).toMatch(/a message of 1 bytes with tag 99 cannot be revived/)
    expect((errors[3] as Error).message).toMatch(/a message of 7 bytes with tag 5 cannot be revived/)
    expect((errors[3] as Error).cause).toBeInstanceOf(SyntaxError)
    expect(await conn.recv({ timeout: 2000 })).toEqual(new Uint8Array([1, 2, 3]))
  })
})

describe('pickles on the @ipc wire', () => {
  it("a frame tagged 0x80 (the tag a pickle has on CPython's wire) is an unknown tag on ours: CorruptError, not unpickled", async () => {
    const { peer, conn } = await ipcClient()
    // Tag 0x80, then a pickle of the int 1 (PROTO 4, BININT1 1, STOP).
    peer.write(frame(Buffer.from([0x80, ...PROTO4, 0x4b, 1, 0x2e])))
    peer.write(frame(Buffer.from([TAG_BYTES, 9])))
    const error = await conn.recv({ timeout: 2000 }).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(CorruptError)
    expect((error as Error).message).toMatch(/with tag 128 cannot be revived/)
    expect(await conn.recv({ timeout: 2000 })).toEqual(new Uint8Array([9]))
  })
})

describe('v8 values (codec tag 5) of the @ipc wire', () => {
  it('refuses a Set of 32,768 colliding ints within recv({ timeout: 500 }) with CorruptError, then takes the next message', async () => {
    const { peer, conn } = await ipcClient()
    peer.write(frame(Buffer.concat([Buffer.from([TAG_V8]), v8SetOf(collidingIntegers(32_768))])))
    peer.write(frame(Buffer.concat([Buffer.from([TAG_V8]), v8SetOf(collidingIntegers(MAX_HASHED_NUMBERS))])))
    expect(await conn.poll(2000)).toBe(true)
    const start = performance.now()
    await expect(conn.recv({ timeout: 500 })).rejects.toThrow(CorruptError)
    // v8.deserialize alone spends about a second on it.
    expect(performance.now() - start).toBeLessThan(250)
    expect(((await conn.recv({ timeout: 2000 })) as Set<number>).size).toBe(MAX_HASHED_NUMBERS)
  })

  it('refuses 2,000,000 empty Sets (6 MB, ~340 MB once revived) within recv({ timeout: 500 }), heap unchanged', async () => {
    const { peer, conn } = await ipcClient()
    peer.write(frame(Buffer.concat([Buffer.from([TAG_V8]), v8EmptySets(2_000_000)])))
    peer.write(frame(Buffer.concat([Buffer.from([TAG_V8]), v8EmptySets(1000)])))
    expect(await conn.poll(5000)).toBe(true)
    const before = process.memoryUsage().heapUsed
    const start = performance.now()
    await expect(conn.recv({ timeout: 500 })).rejects.toThrow(/more than 16 bytes of heap per byte/)
    expect(performance.now() - start).toBeLessThan(500)
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 2 ** 20)
    expect(((await conn.recv({ timeout: 2000 })) as unknown[]).length).toBe(1000)
  })

  it('refuses element-store bombs over TCP (2,000 objects of index keys 1023 and 2574: 22 KB, ~62 MB once revived; 8 sparse arrays of 30,000,000: 95 bytes, 1.9 GB), heap unchanged, then takes the next message', async () => {
    const { peer, conn } = await ipcClient()
    peer.write(frame(Buffer.concat([Buffer.from([TAG_V8]), v8IndexKeyObjects(2000, [1023, 2574])])))
    peer.write(frame(Buffer.concat([Buffer.from([TAG_V8]), v8IndexKeyObjects(2000, [1023, 2574], 'two-byte')])))
    peer.write(frame(Buffer.concat([Buffer.from([TAG_V8]), v8SparseArrays(8, 30_000_000)])))
    peer.write(frame(Buffer.concat([Buffer.from([TAG_V8]), v8IndexKeyObjects(3, [0, 1, 2])])))
    expect(await conn.poll(5000)).toBe(true)
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 3; i++)
      await expect(conn.recv({ timeout: 2000 })).rejects.toThrow(/more than 16 bytes of heap per byte/)
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 * 2 ** 20)
    expect(await conn.recv({ timeout: 2000 })).toEqual(
      [
        [undefined, undefined, undefined],
        [undefined, undefined, undefined],
        [undefined, undefined, undefined],
      ].map((keys) => Object.assign({}, keys)),
    )
  })

  it('refuses packed and JSON heap bombs over TCP (20,000 objects of index keys 1023 and 2574: 380 KB packed, 624 MB once revived; 1,000,000 empty objects: 3 MB of JSON, 64 MB), heap unchanged, then takes the next message', async () => {
    const { peer, conn } = await ipcClient()
    peer.write(frame(Buffer.concat([Buffer.from([TAG_PACKED]), packedIndexKeyObjects(20_000, [1023, 2574])])))
    peer.write(frame(Buffer.concat([Buffer.from([TAG_JSON_UTF8]), jsonArrayOf(1_000_000, '{}')])))
    peer.write(frame(Buffer.concat([Buffer.from([TAG_PACKED]), packedIndexKeyObjects(3, [1, 2])])))
    expect(await conn.poll(5000)).toBe(true)
    const before = process.memoryUsage().heapUsed
    await expect(conn.recv({ timeout: 2000 })).rejects.toThrow(
      /its packed value is refused \(it would take more than 16 bytes/,
    )
    await expect(conn.recv({ timeout: 2000 })).rejects.toThrow(
      /its JSON value is refused \(it would take more than 16 bytes/,
    )
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(32 * 2 ** 20)
    expect(await conn.recv({ timeout: 2000 })).toEqual([
      { 1: null, 2: null },
      { 1: null, 2: null },
      { 1: null, 2: null },
    ])
  })
})
