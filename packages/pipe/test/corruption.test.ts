/**
 * A pipe whose shared memory another process scribbles on: every receive
 * (async, sync with a timeout, poll) throws CorruptError promptly, never
 * hangs, spins or allocates what a bad length announces; the event loop runs
 * meanwhile; the connection refuses everything after; close() works.
 */

import { Segment } from '@ipc/core/internal'
import { spawnChild, uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Connection } from '../src/connection.js'
import { CorruptError, MessageTooLongError } from '../src/errors.js'
import { PIPE_KIND, RINGS_OFFSET, SLOT_END_OFFSET, W_CAPACITY, W_CLOSED_ENDS, W_FLAGS } from '../src/layout.js'
import { Pipe } from '../src/pipe.js'

const corrupter = new URL('./fixtures/corrupter.mjs', import.meta.url)
const fuzzer = new URL('./fixtures/fuzz-pipe.mjs', import.meta.url)

/** Counts event-loop ticks (every 5 ms) until the returned function is called. */
function ticker(): () => number {
  let ticks = 0
  const timer = setInterval(() => ticks++, 5)
  onTestFinished(() => clearInterval(timer))
  return () => {
    clearInterval(timer)
    return ticks
  }
}

function onewayPipe(): ReturnType<typeof Pipe> {
  const [receiver, sender] = Pipe({ duplex: false, capacity: 4096 })
  onTestFinished(() => {
    receiver.close()
    sender.close()
  })
  return [receiver, sender]
}

const CORRUPT_CASES = [
  'negative length',
  'length beyond capacity',
  'padding at offset 0',
  'unknown tag',
  'chunk total -1',
  'chunk total 1.5 records',
  'chunk sequence gap',
  'chunk of the wrong length',
]
/** Cases whose first record (a HEAD) is sound: only reading the chunks finds the damage. */
const CHUNK_CASES = ['chunk sequence gap', 'chunk of the wrong length']

describe('a pipe whose ring another process corrupts', () => {
  for (const kase of CORRUPT_CASES) {
    it(`${kase}: a waiting recv() rejects with CorruptError, the event loop ticking`, { timeout: 20_000 }, async () => {
      const [receiver, sender] = onewayPipe()
      const child = spawnChild(corrupter, [receiver.name, kase, '200'])
      const stop = ticker()
      const started = performance.now()
      await expect(receiver.recv({ timeout: 10_000 })).rejects.toThrow(CorruptError)
      const elapsed = performance.now() - started
      expect(stop()).toBeGreaterThanOrEqual(10)
      expect(elapsed).toBeLessThan(8000)
      expect(await child.exited).toBe(0)
      // Unusable from now on, at once; close still works.
      const again = performance.now()
      expect(() => receiver.recvSync({ timeout: 5000 })).toThrow(CorruptError)
      await expect(receiver.poll(1000)).rejects.toThrow(CorruptError)
      expect(performance.now() - again).toBeLessThan(500)
      receiver.close()
      sender.close()
      expect(receiver.closed).toBe(true)
    })

    it(`${kase}: a blocked recvSync({ timeout }) throws CorruptError promptly`, { timeout: 20_000 }, async () => {
      const [receiver] = onewayPipe()
      const child = spawnChild(corrupter, [receiver.name, kase, '300'])
      await child.waitFor('ready')
      const started = performance.now()
      expect(() => receiver.recvSync({ timeout: 10_000 })).toThrow(CorruptError)
      expect(performance.now() - started).toBeLessThan(5000)
      expect(await child.exited).toBe(0)
    })

    it(`${kase}: a waiting poll() rejects with CorruptError, the event loop ticking`, { timeout: 20_000 }, async () => {
      const [receiver] = onewayPipe()
      const child = spawnChild(corrupter, [receiver.name, kase, '200'])
      const stop = ticker()
      const started = performance.now()
      if (CHUNK_CASES.includes(kase)) {
        // The message starts well (its HEAD is sound): poll says a receive would not wait,
        // and that receive meets the bad chunk.
        expect(await receiver.poll(10_000)).toBe(true)
        await expect(receiver.recv({ timeout: 1000 })).rejects.toThrow(CorruptError)
        await expect(receiver.poll(0)).rejects.toThrow(CorruptError)
      } else await expect(receiver.poll(10_000)).rejects.toThrow(CorruptError)
      expect(performance.now() - started).toBeLessThan(8000)
      expect(stop()).toBeGreaterThanOrEqual(10)
      expect(() => receiver.pollSync(0)).toThrow(CorruptError)
      expect(await child.exited).toBe(0)
    })
  }

  it('chunk total 2^31: refused with MessageTooLongError before any allocation; the pipe goes on', {
    timeout: 20_000,
  }, async () => {
    const [receiver, sender] = onewayPipe()
    const child = spawnChild(corrupter, [receiver.name, 'chunk total 2^31', '200'])
    const rss = process.memoryUsage().rss
    const stop = ticker()
    const error = await receiver.recv({ timeout: 10_000 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MessageTooLongError)
    expect(error).toMatchObject({ length: 2 ** 31, maxLength: 128 * 1024 * 1024 })
    expect(stop()).toBeGreaterThanOrEqual(10)
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 * 1024 * 1024)
    expect(await child.exited).toBe(0)
    sender.sendSync('after')
    expect(receiver.recvSync({ timeout: 1000 })).toBe('after')
  })

  it('a Latin-1 record longer than V8 allows a string: recvSync() throws CorruptError, not a plain Error, and the ring refuses after', () => {
    // A 1 GiB ring (sparse: only the pages touched are allocated) and a limit above V8's longest string.
    const [receiver, sender] = Pipe({ duplex: false, capacity: 2 ** 30, maxMessageSize: 2 ** 32 })
    onTestFinished(() => {
      receiver.close()
      sender.close()
    })
    const segment = Segment.open(PIPE_KIND, receiver.name)
    onTestFinished(() => segment.close())
    const ring = (segment.dataOffset + RINGS_OFFSET) / 4
    const length = 536_870_900 // above 2^29 - 24, within the ring's largest record
    segment.i32[ring + 48] = length // the record header at the area's start (SPSC_HEADER_BYTES / 4)
    segment.i32[ring + 49] = 1 // TAG_LATIN1
    Atomics.store(segment.i32, ring + 16, 8 + length + 4) // head: the record, padded to 8 bytes
    expect(() => receiver.recvSync()).toThrow(CorruptError)
    expect(() => receiver.recvSync({ timeout: 10 })).toThrow(CorruptError)
  })

  it('a corrupt record found while sending back: the whole connection is unusable, close() works', {
    timeout: 20_000,
  }, async () => {
    const [a, b] = Pipe({ capacity: 4096 })
    onTestFinished(() => {
      a.close()
      b.close()
    })
    // Ring 0 carries messages to end 0 (a).
    const child = spawnChild(corrupter, [a.name, 'negative length', '0'])
    await child.waitFor('written')
    await expect(a.recv({ timeout: 1000 })).rejects.toThrow(CorruptError)
    // a's sending ring is intact, but a is unusable as a whole.
    await expect(a.send('x')).rejects.toThrow(CorruptError)
    expect(() => a.sendSync('x')).toThrow(CorruptError)
    a.close()
    a.close()
  })
})

describe('a pipe whose own words another process corrupts', () => {
  it('Connection.open() of damaged pipe or ring metadata throws CorruptError', () => {
    const cases: [string, (i32: Int32Array, u8: Uint8Array) => void][] = [
      ['a capacity that is not a power of two', (i32) => (i32[W_CAPACITY] = 5000)],
      ['a capacity larger than the segment', (i32) => (i32[W_CAPACITY] = 1 << 24)],
      ['unknown flags', (i32) => (i32[W_FLAGS] = 6)],
      ['closedEnds out of range', (i32) => (i32[W_CLOSED_ENDS] = 4)],
      ['a slot byte naming end 6', (_, u8) => (u8[SLOT_END_OFFSET + 100] = 7)],
      ["ring 0's head far past its tail", (i32) => (i32[RINGS_OFFSET / 4 + 16] = 1 << 20)],
      ["ring 0's capacity unlike the pipe's", (i32) => (i32[RINGS_OFFSET / 4 + 1] = 8192)],
    ]
    for (const [what, scribble] of cases) {
      const name = uniqueName('pipe-corrupt')
      const [a, b] = Pipe({ name, capacity: 4096 })
      const segment = Segment.open(PIPE_KIND, name)
      try {
        scribble(new Int32Array(segment.buffer, segment.dataOffset), new Uint8Array(segment.buffer, segment.dataOffset))
        expect(() => Connection.open(name, 1), what).toThrow(CorruptError)
      } finally {
        a.close()
        b.close()
        segment.close()
      }
    }
  })

  it('closedEnds out of range: the peer check in a waiting recv() throws CorruptError; close() works', {
    timeout: 20_000,
  }, async () => {
    const [receiver, sender] = onewayPipe()
    const segment = Segment.open(PIPE_KIND, receiver.name)
    onTestFinished(() => segment.close())
    const stop = ticker()
    const started = performance.now()
    const pending = receiver.recv({ timeout: 10_000 })
    setTimeout(() => Atomics.store(segment.i32, segment.dataOffset / 4 + W_CLOSED_ENDS, 0x10), 50)
    await expect(pending).rejects.toThrow(/closedEnds is 16/)
    expect(performance.now() - started).toBeLessThan(3000)
    expect(stop()).toBeGreaterThanOrEqual(5)
    receiver.close()
    sender.close()
  })
})

describe('random words scribbled on a pipe while attached (fuzz, in a child process)', () => {
  it('every call works or throws CorruptError/TimeoutError/MessageTooLongError in bound; the child never hangs or crashes', {
    timeout: 120_000,
  }, async () => {
    const seed = Number(process.env.IPC_FUZZ_SEED ?? Date.now() % 2 ** 31)
    const rounds = 400
    console.log(`pipe fuzz seed: ${seed} (rerun with IPC_FUZZ_SEED=${seed})`)
    const child = spawnChild(fuzzer, [String(seed), String(rounds)])
    // Each round has a hard deadline: the child reports every round, and must not go quiet.
    let last = ''
    for (let round = 0; round < rounds; round++) {
      await child.waitFor(`round ${round} `, 10_000).catch((error: unknown) => {
        throw new Error(`seed ${seed}: round ${round} missed its deadline (last: ${last}): ${String(error)}`)
      })
      last = `round ${round}`
    }
    await child.waitFor('done', 10_000)
    expect(await child.exited, `seed ${seed}: ${child.stderr()}`).toBe(0)
    const summary = child.stdout().match(/done (.*)/)?.[1]
    console.log(`pipe fuzz: ${summary}`)
    expect(child.stdout()).not.toMatch(/unexpected/)
  })
})
