import { deserialize, serialize } from '@ipc/core'
import { uniqueName } from '@ipc/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { Connection } from './connection.js'
import {
  BrokenPipeError,
  BufferTooShort,
  ClosedError,
  DataCloneError,
  EOFError,
  ExistsError,
  MessageTooLongError,
  NotFoundError,
  TimeoutError,
  ValueError,
} from './errors.js'
import { Pipe } from './pipe.js'

const open: Connection<unknown>[] = []
function pipe<T = unknown>(options?: Parameters<typeof Pipe>[0]): [Connection<T>, Connection<T>] {
  const ends = Pipe<T>(options)
  open.push(...(ends as Connection<unknown>[]))
  return ends
}
afterEach(() => {
  for (const c of open.splice(0)) c.close()
})

function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed
  for (let i = 0; i < size; i += 4096) {
    x = (x * 1103515245 + 12345) >>> 0
    out.fill(x & 0xff, i, Math.min(size, i + 4096))
  }
  return out
}

/** Sends until even a one-byte message does not fit; returns what was sent. */
function fill(conn: Connection<unknown>): unknown[] {
  const sent: unknown[] = []
  for (const item of [new Uint8Array(1000), 'x']) {
    for (;;) {
      try {
        conn.sendSync(item, { timeout: 0 })
        sent.push(item)
      } catch (error) {
        expect(error).toBeInstanceOf(TimeoutError)
        break
      }
    }
  }
  return sent
}

describe('Pipe()', () => {
  it('returns two ends that both send and receive (duplex)', async () => {
    const [a, b] = pipe()
    expect([a.readable, a.writable, b.readable, b.writable]).toEqual([true, true, true, true])
    await a.send('to b')
    b.sendSync('to a')
    expect(await b.recv()).toBe('to b')
    expect(a.recvSync()).toBe('to a')
  })

  it('a value nested too deep to revive fails its recv with DataCloneError; the next message follows', async () => {
    let deep = {}
    for (let i = 0; i < 3000; i++) deep = { inner: deep }
    const [a, b] = pipe()
    a.sendSync(deep)
    a.sendSync('after')
    await a.send(deep)
    expect(() => b.recvSync()).toThrow(DataCloneError)
    expect(b.recvSync()).toBe('after')
    await expect(b.recv()).rejects.toThrow(/^Cannot revive the value: it is nested deeper than the stack/)
    expect(b.pollSync()).toBe(false)
  })

  it('with duplex: false, the first end only receives and the second only sends', async () => {
    const [r, w] = pipe({ duplex: false })
    expect([r.readable, r.writable, w.readable, w.writable]).toEqual([true, false, false, true])
    w.sendSync(1)
    expect(r.recvSync()).toBe(1)
    await expect(r.send(2)).rejects.toThrow(ValueError)
    expect(() => r.sendSync(2)).toThrow(/this end only receives/)
    await expect(w.recv()).rejects.toThrow(/this end only sends/)
    expect(() => w.pollSync()).toThrow(ValueError)
  })

  it('keeps order and structured-clone values', async () => {
    const [a, b] = pipe()
    const values = [
      'é',
      'x'.repeat(1000),
      42,
      null,
      { m: new Map([[1, { s: new Set([2]) }]]) },
      new Uint8Array([1, 2]),
      Buffer.from('b'),
      [1n],
    ]
    for (const v of values) await a.send(v)
    for (const v of values) expect(await b.recv()).toEqual(v)
    expect(Buffer.isBuffer(values[6])).toBe(true)
  })

  it('keeps every string exact, through the short Latin-1 path and around it, sync and async', async () => {
    const [a, b] = pipe({ capacity: 4096 })
    const strings = [
      '',
      'a',
      'msg-12345',
      '\u00ff\u00e9\u0080',
      '\u00ff'.repeat(256), // the longest the short path takes
      'y'.repeat(257),
      'Latin-1 then €uro', // a char past Latin-1 after a copied prefix
      '\u{1f600}',
      '\ud800', // a lone surrogate
      '\u0000 nul',
    ]
    for (let round = 0; round < 40; round++) {
      // 40 rounds through a 4 KiB ring: records wrap around its end, and a round fills it.
      for (const s of strings) {
        if (round % 2 === 0) a.sendSync(s)
        else await a.send(s)
      }
      for (const s of strings) expect(round % 2 === 0 ? b.recvSync() : await b.recv()).toBe(s)
    }
  })

  it('rejects bad options with TypeError / RangeError', () => {
    expect(() => Pipe({ duplex: 'yes' as never })).toThrow(TypeError)
    // Python's Pipe(False) is a one-way pipe; here it is a TypeError that says how to write it, not a duplex pipe.
    expect(() => Pipe(false as never)).toThrow(
      /for a one-way pipe, as Python's Pipe\(False\), pass \{ duplex: false \}/,
    )
    expect(() => Pipe(true as never)).toThrow(TypeError)
    expect(() => Pipe('x' as never)).toThrow(TypeError)
    expect(() => Pipe(null as never)).toThrow(TypeError)
    expect(() => Pipe({ capacity: 0 })).toThrow(RangeError)
    expect(() => Pipe({ capacity: 1.5 })).toThrow(/"capacity" option must be an integer/)
  })

  it('refuses an option name it does not know, naming the one meant', async () => {
    expect(() => Pipe({ maxMessagesize: 1024 } as never)).toThrow(
      /Unknown option "maxMessagesize" in the options\. Did you mean "maxMessageSize"\?/,
    )
    expect(() => Pipe({ duplx: false } as never)).toThrow(/Did you mean "duplex"/)
    const [a, b] = pipe()
    expect(() => Connection.from(b.handle, { maxMessageSize: 1024, max: 1 } as never)).toThrow(/Unknown option "max"/)
    await expect(b.recv({ timout: 10 } as never)).rejects.toThrow(/Did you mean "timeout"/)
    expect(() => b.recvSync({ timeOut: 10 } as never)).toThrow(/Did you mean "timeout"/)
    expect(() => b.recvBytesSync({ maxlength: 4, timeout: 0 } as never)).toThrow(/Did you mean "maxLength"/)
    expect(() => a.sendSync('x', { timout: 5 } as never)).toThrow(/Did you mean "timeout"/)
    // recvBytes takes maxLength; recv does not.
    a.sendBytesSync(new Uint8Array([1, 2]))
    expect([...b.recvBytesSync({ maxLength: 4, timeout: 1000 })]).toEqual([1, 2])
    expect(() => b.recvSync({ maxLength: 4 } as never)).toThrow(/Unknown option "maxLength"/)
  })

  it('throws ExistsError for a taken name, and Connection.open attaches by name', () => {
    const name = uniqueName('pipe')
    const [a] = pipe({ name })
    expect(() => Pipe({ name })).toThrow(ExistsError)
    const again = Connection.open(name, 1)
    open.push(again)
    a.sendSync('hi')
    expect(again.recvSync()).toBe('hi')
    expect(() => Connection.open(uniqueName('missing'), 0)).toThrow(NotFoundError)
  })
})

describe('Connection#send()', () => {
  it('throws DataCloneError for a value that cannot be cloned and sends nothing', async () => {
    const [a, b] = pipe()
    await expect(a.send((() => 1) as never)).rejects.toThrow(DataCloneError)
    expect(b.pollSync()).toBe(false)
  })

  it('waits while the pipe is full; a timeout sends nothing', async () => {
    const [a, b] = pipe({ capacity: 4096 })
    const sent = fill(a)
    expect(sent.length).toBeGreaterThan(1)
    await expect(a.send('late', { timeout: 20 })).rejects.toThrow(TimeoutError)
    for (const item of sent) expect(await b.recv()).toEqual(item)
    expect(b.pollSync()).toBe(false)
  })

  it('an aborted send sends nothing, and a later send goes through', async () => {
    const [a, b] = pipe({ capacity: 4096 })
    const sent = fill(a)
    const controller = new AbortController()
    const pending = a.send('aborted', { signal: controller.signal })
    controller.abort()
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    const later = a.send('later')
    for (const item of sent) expect(await b.recv()).toEqual(item)
    expect(await b.recv()).toBe('later')
    await later
  })

  it('a chunked send aborted part-way is dropped by the receiver whole', async () => {
    const [a, b] = pipe({ capacity: 4096 })
    const controller = new AbortController()
    const big = a.send(new Uint8Array(100_000), { signal: controller.signal })
    setTimeout(() => controller.abort(), 20)
    await expect(big).rejects.toMatchObject({ name: 'AbortError' })
    await a.send('after')
    // The receiver consumes the first chunks, then meets the cancel mark.
    expect(await b.recv({ timeout: 5000 })).toBe('after')
  })

  it('throws BrokenPipeError once the other end closed', async () => {
    const [a, b] = pipe()
    b.close()
    await expect(a.send('x')).rejects.toThrow(BrokenPipeError)
    expect(() => a.sendSync('x')).toThrow(/other end of the pipe was closed/)
  })

  it('wakes a sender blocked on a full pipe with BrokenPipeError when the reader closes', async () => {
    const [a, b] = pipe({ capacity: 4096 })
    const blocked = a.send(new Uint8Array(50_000))
    setTimeout(() => b.close(), 20)
    await expect(blocked).rejects.toThrow(BrokenPipeError)
  })
})

describe('Connection#recv()', () => {
  it('throws TimeoutError after the timeout and takes nothing', async () => {
    const [a, b] = pipe()
    await expect(b.recv({ timeout: 20 })).rejects.toThrow(TimeoutError)
    expect(() => b.recvSync({ timeout: 0 })).toThrow(TimeoutError)
    a.sendSync('x')
    expect(b.recvSync({ timeout: 0 })).toBe('x')
  })

  it('rejects with signal.reason on abort and leaves the next message in place', async () => {
    const [a, b] = pipe()
    const controller = new AbortController()
    const pending = b.recv({ signal: controller.signal })
    setTimeout(() => controller.abort(new Error('stop')), 10)
    await expect(pending).rejects.toThrow('stop')
    await a.send('kept')
    expect(await b.recv()).toBe('kept')
    await expect(b.recv({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
  })

  it('serves concurrent receives in call order', async () => {
    const [a, b] = pipe()
    const r = [b.recv(), b.recv(), b.recv()]
    for (const v of [1, 2, 3]) await a.send(v)
    expect(await Promise.all(r)).toEqual([1, 2, 3])
  })

  it('returns what is left after the other end closed, then throws EOFError', async () => {
    const [a, b] = pipe()
    await a.send('last')
    a.close()
    expect(await b.poll()).toBe(true)
    expect(await b.recv()).toBe('last')
    expect(await b.poll()).toBe(true)
    await expect(b.recv()).rejects.toThrow(EOFError)
    expect(() => b.recvSync()).toThrow(EOFError)
  })

  it('wakes a waiting receiver with EOFError when the other end closes', async () => {
    const [a, b] = pipe()
    const waiting = b.recv()
    setTimeout(() => a.close(), 20)
    await expect(waiting).rejects.toThrow(EOFError)
  })

  it('carries messages far larger than the pipe (chunked), intact', async () => {
    const [a, b] = pipe({ capacity: 64 * 1024 })
    const big = pattern(5 * 1024 * 1024 + 3, 7)
    const text = 'ü'.repeat(300_000)
    const sending = (async () => {
      await a.send(big)
      await a.send(text)
      await a.send({ big })
    })()
    const got = (await b.recv()) as Uint8Array
    expect(got).toBeInstanceOf(Uint8Array)
    expect(Buffer.compare(Buffer.from(got), Buffer.from(big))).toBe(0)
    expect(await b.recv()).toBe(text)
    expect(Buffer.from(((await b.recv()) as { big: Uint8Array }).big).equals(Buffer.from(big))).toBe(true)
    await sending
  })

  it('ends for await at EOF', async () => {
    const [a, b] = pipe()
    for (const v of [1, 2, 3]) await a.send(v)
    a.close()
    const got: unknown[] = []
    for await (const v of b) got.push(v)
    expect(got).toEqual([1, 2, 3])
  })
})

describe('Connection bytes', () => {
  it('sendBytes sends raw bytes from offset/size; recvBytes and recv return them', async () => {
    const [a, b] = pipe()
    const data = new TextEncoder().encode('hello world')
    await a.sendBytes(data, 6)
    await a.sendBytes(data, 0, 5)
    a.sendBytesSync(new Uint16Array([0x0102]))
    expect(new TextDecoder().decode(await b.recvBytes())).toBe('world')
    expect(await b.recv()).toEqual(new TextEncoder().encode('hello'))
    expect(b.recvBytesSync()).toEqual(new Uint8Array(new Uint16Array([0x0102]).buffer))
    await expect(a.sendBytes(data, 12)).rejects.toThrow(RangeError)
    await expect(a.sendBytes(data, 6, 6)).rejects.toThrow(/"size" argument must be an integer from 0 to 5/)
    await expect(a.sendBytes('text' as never)).rejects.toThrow(TypeError)
  })

  it('recvBytes of a value sent with send() gives its serialize() form', async () => {
    const [a, b] = pipe()
    await a.send({ k: [1, 2] })
    await a.send('é')
    expect(deserialize(await b.recvBytes())).toEqual({ k: [1, 2] })
    const bytes = await b.recvBytes()
    expect(bytes).toEqual(serialize('é'))
  })

  it('recvBytes over maxLength throws MessageTooLongError and keeps the message', async () => {
    const [a, b] = pipe({ capacity: 4096 })
    await a.sendBytes(new Uint8Array(10))
    await expect(b.recvBytes({ maxLength: 9 })).rejects.toMatchObject({
      name: 'MessageTooLongError',
      length: 10,
      maxLength: 9,
    })
    expect(() => b.recvBytesSync({ maxLength: 3 })).toThrow(MessageTooLongError)
    expect(await b.recvBytes({ maxLength: 10 })).toHaveLength(10)
    // A chunked message too.
    const sending = a.sendBytes(pattern(50_000, 3))
    await expect(b.recvBytes({ maxLength: 49_999 })).rejects.toThrow(MessageTooLongError)
    expect(Buffer.from(await b.recvBytes()).equals(Buffer.from(pattern(50_000, 3)))).toBe(true)
    await sending
  })

  it('recvBytesInto writes at offset and returns the count; too small throws BufferTooShort with the whole message', async () => {
    const [a, b] = pipe()
    await a.sendBytes(new Uint8Array([1, 2, 3]))
    const buf = new Uint8Array(6)
    expect(await b.recvBytesInto(buf, 2)).toBe(3)
    expect([...buf]).toEqual([0, 0, 1, 2, 3, 0])
    await a.sendBytes(new Uint8Array([9, 9, 9, 9, 9]))
    let caught: unknown
    try {
      b.recvBytesIntoSync(buf, 3)
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(BufferTooShort)
    expect([...(caught as BufferTooShort).data]).toEqual([9, 9, 9, 9, 9])
    expect(b.pollSync()).toBe(false) // the message was taken
    await expect(b.recvBytesInto(buf, 7)).rejects.toThrow(RangeError)
  })
})

describe('Connection#poll()', () => {
  it('does not wait by default, waits up to a timeout, and null waits until a message comes', async () => {
    const [a, b] = pipe()
    expect(await b.poll()).toBe(false)
    const t0 = performance.now()
    expect(await b.poll(30)).toBe(false)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25)
    setTimeout(() => a.sendSync('x'), 20)
    expect(await b.poll(null)).toBe(true)
    expect(b.pollSync()).toBe(true)
    expect(b.recvSync()).toBe('x')
    expect(b.pollSync(5)).toBe(false)
  })
})

describe('Connection#close()', () => {
  it('is idempotent; later calls throw ClosedError; a pending receive rejects with ClosedError', async () => {
    const [a, b] = pipe()
    const pending = b.recv()
    b.close()
    b.close()
    b[Symbol.dispose]()
    expect(b.closed).toBe(true)
    await expect(pending).rejects.toThrow(ClosedError)
    await expect(b.recv()).rejects.toThrow(ClosedError)
    expect(() => b.sendSync(1)).toThrow(ClosedError)
    await expect(a.send(1)).rejects.toThrow(BrokenPipeError)
  })

  it('keeps the end open while another object holds it', async () => {
    const [a, b] = pipe()
    const b2 = Connection.from(b.handle)
    open.push(b2)
    b.close()
    await a.send('still')
    expect(await b2.recv()).toBe('still')
    b2.close()
    await expect(a.send('gone')).rejects.toThrow(BrokenPipeError)
  })
})

describe('Connection.from()', () => {
  it('validates the handle', () => {
    expect(() => Connection.from(null as never)).toThrow(TypeError)
    expect(() => Connection.from({ kind: 'queue', name: 'x' })).toThrow(/expected a pipe/)
    expect(() => Connection.from({ kind: 'pipe', name: 'x', end: 2 })).toThrow(RangeError)
    expect(() => new Connection({} as never)).toThrow(TypeError)
  })

  it('refuses an end that was closed for good', () => {
    const [a] = pipe()
    const handle = a.handle
    a.close()
    expect(() => Connection.from(handle)).toThrow(ClosedError)
  })
})

describe('maxMessageSize', () => {
  it('send and sendSync of a longer message throw MessageTooLongError and write nothing', async () => {
    const [a, b] = pipe({ maxMessageSize: 1000 })
    await expect(a.send(new Uint8Array(1001))).rejects.toThrow(MessageTooLongError)
    expect(() => a.sendSync(new Uint8Array(100_000))).toThrow(/has 100000 bytes, more than maxMessageSize 1000/)
    await expect(a.sendBytes(new Uint8Array(5000))).rejects.toMatchObject({ length: 5000, maxLength: 1000 })
    expect(b.pollSync(0)).toBe(false)
    a.sendSync(new Uint8Array(1000))
    expect(b.recvSync({ timeout: 1000 })).toHaveLength(1000)
  })

  it('a receiver with a smaller limit drops a longer message, one record or chunked, and goes on', async () => {
    const name = uniqueName('pipe-limit')
    const [a, b] = pipe({ name, capacity: 4096 })
    const small = Connection.open(name, 1, { maxMessageSize: 500 })
    open.push(small as Connection<unknown>)
    b.close() // `small` holds end 1 now
    a.sendSync(new Uint8Array(600)) // one record
    a.sendSync('ok-1')
    const chunked = a.send(new Uint8Array(100_000)) // chunked: waits for the receiver to skip its pieces
    const last = a.send('ok-2')
    expect(() => small.recvSync({ timeout: 1000 })).toThrow(MessageTooLongError)
    expect(small.recvSync({ timeout: 1000 })).toBe('ok-1')
    const rss = process.memoryUsage().rss
    await expect(small.recv({ timeout: 1000 })).rejects.toMatchObject({ length: 100_000, maxLength: 500 })
    expect(await small.recv({ timeout: 5000 })).toBe('ok-2')
    await chunked
    await last
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 * 1024 * 1024)
  })

  it('travels with the handle; an explicit option wins', () => {
    const [a, b] = pipe({ maxMessageSize: 2048 })
    expect(a.handle).toMatchObject({ maxMessageSize: 2048 })
    const again = Connection.from<Uint8Array>(b.handle)
    open.push(again as Connection<unknown>)
    expect(() => again.sendSync(new Uint8Array(2049))).toThrow(MessageTooLongError)
    const wider = Connection.from<Uint8Array>(b.handle, { maxMessageSize: 4096 })
    open.push(wider as Connection<unknown>)
    wider.sendSync(new Uint8Array(2049))
    expect(pipe()[0].handle).not.toHaveProperty('maxMessageSize')
  })

  it('rejects a maxMessageSize that is not an integer from 1 to 2^32', () => {
    for (const bad of [0, -1, 1.5, 2 ** 32 + 1, '10'])
      expect(() => Pipe({ maxMessageSize: bad as number }), String(bad)).toThrow(RangeError)
    const [a] = pipe()
    expect(() => Connection.open(a.name, 1, { maxMessageSize: 0 })).toThrow(RangeError)
  })
})
