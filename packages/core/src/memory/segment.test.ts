import { spawnSync } from 'node:child_process'
import { existsSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { uniqueName } from '@ipc/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ClosedError, ExistsError, IncompatibleError, IpcError, NotFoundError } from '../errors.js'
import { processStartTime, selfIdentity } from '../ownership/liveness.js'
import { checkName, HEADER_BYTES, randomName, Segment, SHM_PREFIX } from './segment.js'

const KIND = { kind: 'test-seg', version: 1, label: 'test segment' }

function shmPath(name: string): string {
  return `/dev/shm/${SHM_PREFIX}${name}`
}

/** A segment closed (and unlinked) at the end of the test. */
function created(dataBytes = 64, name: string = uniqueName()): Segment {
  const segment = Segment.create(KIND, dataBytes, { name })
  onTestFinished(() => {
    segment.unlink()
    segment.close()
  })
  return segment
}

/** Throws the error `fn` throws, or fails. */
function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn()
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('Expected the call to throw')
}

describe('Segment.create()', () => {
  it('creates /dev/shm/ipc-<name> with mode 0600, the header and a zeroed data area', () => {
    const name = uniqueName()
    const segment = created(1000, name)
    expect(segment.name).toBe(name)
    expect(segment.kind).toBe('test-seg')
    const stat = statSync(shmPath(name))
    expect(stat.mode & 0o777).toBe(0o600)
    expect(stat.size).toBe(HEADER_BYTES + 1000)
    expect(segment.dataOffset).toBe(HEADER_BYTES)
    expect(segment.dataOffset % 64).toBe(0)
    expect(segment.dataBytes).toBe(1000)
    expect(segment.buffer.byteLength).toBe(HEADER_BYTES + 1000)
    expect(segment.u8.subarray(segment.dataOffset).every((b) => b === 0)).toBe(true)
    expect(segment.closed).toBe(false)
  })

  it('gives a random unguessable name when none is given', () => {
    const segment = Segment.create(KIND, 8)
    onTestFinished(() => segment.close())
    expect(segment.name).toMatch(/^[A-Za-z0-9_-]{16}$/)
    expect(existsSync(shmPath(segment.name))).toBe(true)
    const names = new Set(Array.from({ length: 1000 }, () => randomName()))
    expect(names.size).toBe(1000)
  })

  it('throws ExistsError when the name is taken, and leaves the first one intact', () => {
    const first = created()
    first.u8[first.dataOffset] = 7
    const error = thrown(() => Segment.create(KIND, 64, { name: first.name }))
    expect(error).toBeInstanceOf(ExistsError)
    expect(error.message).toBe(`Cannot create test segment "${first.name}": a segment with that name exists`)
    expect(first.u8[first.dataOffset]).toBe(7)
  })

  it('runs init before any opener can see the segment; a throwing init removes it', () => {
    const name = uniqueName()
    const segment = Segment.create(KIND, 64, {
      name,
      init: (s) => {
        s.i32[s.dataOffset / 4] = 42
      },
    })
    onTestFinished(() => segment.close())
    const other = Segment.open(KIND, name)
    onTestFinished(() => other.close())
    expect(other.i32[other.dataOffset / 4]).toBe(42)

    const failing = uniqueName()
    expect(() =>
      Segment.create(KIND, 64, {
        name: failing,
        init: () => {
          throw new Error('init failed')
        },
      }),
    ).toThrow('init failed')
    expect(existsSync(shmPath(failing))).toBe(false)
  })

  it("marks the segment 'initialising' (magic 'IPCi') from the native create until init is done, then 'IPC2'", () => {
    let during = 0
    const segment = Segment.create(KIND, 64, {
      name: uniqueName(),
      init: (s) => {
        during = Atomics.load(s.i32, 0)
      },
    })
    onTestFinished(() => segment.close())
    expect(during).toBe(0x69435049)
    expect(Atomics.load(segment.i32, 0)).toBe(0x32435049)
  })

  it('rejects a negative or fractional size with RangeError', () => {
    expect(thrown(() => Segment.create(KIND, -1)).code).toBe('ERR_OUT_OF_RANGE')
    expect(thrown(() => Segment.create(KIND, 1.5))).toBeInstanceOf(RangeError)
  })
})

describe('segment names', () => {
  const bad: [unknown, string, RegExp][] = [
    ['/x', 'ERR_INVALID_ARG_VALUE', /must not be "\." or "\.\." nor contain "\/" or NUL characters, received "\/x"/],
    ['a/b', 'ERR_INVALID_ARG_VALUE', /nor contain "\/"/],
    ['a\0b', 'ERR_INVALID_ARG_VALUE', /nor contain "\/" or NUL/],
    ['..', 'ERR_INVALID_ARG_VALUE', /must not be "\." or "\.\."/],
    ['.', 'ERR_INVALID_ARG_VALUE', /must not be "\." or "\.\." .*, received "\."/],
    ['', 'ERR_INVALID_ARG_VALUE', /must be 1 to 200 bytes long in UTF-8, received 0 bytes/],
    ['x'.repeat(300), 'ERR_INVALID_ARG_VALUE', /must be 1 to 200 bytes long in UTF-8, received 300 bytes/],
    // 101 UTF-16 units, 202 bytes: the limit counts UTF-8 bytes (what the file name holds).
    ['é'.repeat(101), 'ERR_INVALID_ARG_VALUE', /must be 1 to 200 bytes long in UTF-8, received 202 bytes/],
    ['😀'.repeat(51), 'ERR_INVALID_ARG_VALUE', /must be 1 to 200 bytes long in UTF-8, received 204 bytes/],
    // 'a\uD800' and 'a\uDBFF' would both name the file 'a\uFFFD' in UTF-8.
    ['a\uD800', 'ERR_INVALID_ARG_VALUE', /must be well-formed Unicode \(no lone surrogate\)/],
    ['\uDC00', 'ERR_INVALID_ARG_VALUE', /must be well-formed Unicode/],
    [42, 'ERR_INVALID_ARG_TYPE', /must be a string, received number/],
    [null, 'ERR_INVALID_ARG_TYPE', /must be a string, received object/],
  ]

  it.each(bad)('rejects %j in create and open with a clear TypeError', (name, code, message) => {
    for (const call of [
      () => Segment.create(KIND, 8, { name: name as string }),
      () => Segment.open(KIND, name as string),
    ]) {
      const error = thrown(call)
      expect(error).toBeInstanceOf(TypeError)
      expect(error.code).toBe(code)
      expect(error.message).toMatch(message)
    }
  })

  it('accepts 200 bytes of UTF-8 and any other character', () => {
    expect(checkName('x'.repeat(200))).toHaveLength(200)
    expect(checkName('é'.repeat(100))).toHaveLength(100)
    const segment = created(8, `${uniqueName()}-é😀 .x`)
    expect(existsSync(shmPath(segment.name))).toBe(true)
  })
})

describe('Segment.open()', () => {
  it('attaches to the same memory in another slot', () => {
    const segment = created()
    const other = Segment.open(KIND, segment.name)
    onTestFinished(() => other.close())
    expect(other.slot).not.toBe(segment.slot)
    expect(other.dataBytes).toBe(segment.dataBytes)
    Atomics.store(segment.i32, segment.dataOffset / 4, 99)
    expect(Atomics.load(other.i32, other.dataOffset / 4)).toBe(99)
    expect(other.slotOwner(other.slot)).toMatchObject({ pid: process.pid, startTime: processStartTime(process.pid) })
    expect(other.slotOwner(segment.slot)?.pid).toBe(process.pid)
  })

  it('throws NotFoundError for a missing name', () => {
    const name = uniqueName()
    const error = thrown(() => Segment.open(KIND, name))
    expect(error).toBeInstanceOf(NotFoundError)
    expect(error.code).toBe('IPC_NOT_FOUND')
    expect(error.message).toBe(`Cannot open test segment "${name}": no segment with that name exists`)
  })

  it('throws IncompatibleError for a segment of another kind or layout version', () => {
    const segment = created()
    const otherKind = thrown(() => Segment.open({ kind: 'queue', version: 1 }, segment.name))
    expect(otherKind).toBeInstanceOf(IncompatibleError)
    expect(otherKind.message).toBe(`Cannot open queue "${segment.name}": it is a test-seg, not a queue`)
    const otherVersion = thrown(() => Segment.open({ ...KIND, version: 2 }, segment.name))
    expect(otherVersion).toBeInstanceOf(IncompatibleError)
    expect(otherVersion.message).toBe(
      `Cannot open test segment "${segment.name}": its layout version is 1, this package reads version 2`,
    )
    // The failed opens took no slot.
    let attached = 0
    for (let s = 0; s < 128; s++) if (segment.slotOwner(s) !== undefined) attached++
    expect(attached).toBe(1)
  })

  it.each([
    ['a file of zeros', Buffer.alloc(4096)],
    ['a short file', Buffer.from('hello')],
    ['random bytes', Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) & 0xff))],
  ])('throws IncompatibleError for a /dev/shm/ipc-* file that is not ours: %s', (_, content) => {
    const name = uniqueName('xyz')
    writeFileSync(shmPath(name), content, { mode: 0o600 })
    onTestFinished(() => unlinkSync(shmPath(name)))
    const error = thrown(() => Segment.open(KIND, name))
    expect(error).toBeInstanceOf(IncompatibleError)
    expect(error.message).toMatch(new RegExp(`^Cannot open test segment "${name}": the segment is not an @ipc segment`))
    // It is still there: not ours to remove.
    expect(existsSync(shmPath(name))).toBe(true)
  })

  it("throws IncompatibleError naming both headers for a segment whose header is 'IPC1', not 'IPC2'", () => {
    const name = uniqueName('v1')
    const content = Buffer.alloc(HEADER_BYTES + 64)
    content.writeInt32LE(0x31435049, 0)
    content.writeInt32LE(1, 4)
    writeFileSync(shmPath(name), content, { mode: 0o600 })
    onTestFinished(() => unlinkSync(shmPath(name)))
    const error = thrown(() => Segment.open(KIND, name))
    expect(error).toBeInstanceOf(IncompatibleError)
    expect(error.message).toBe(`Cannot open test segment "${name}": its header is 'IPC1', this package reads 'IPC2'`)
  })
})

describe('Segment#close()', () => {
  it('is idempotent, frees the slot and unlinks when the last object detaches', () => {
    const segment = Segment.create(KIND, 64, { name: uniqueName() })
    const other = Segment.open(KIND, segment.name)
    segment.close()
    segment.close()
    expect(segment.closed).toBe(true)
    expect(other.slotOwner(segment.slot)).toBeUndefined()
    // Another object is attached: the name stays.
    expect(existsSync(shmPath(segment.name))).toBe(true)
    other[Symbol.dispose]()
    expect(other.closed).toBe(true)
    expect(existsSync(shmPath(segment.name))).toBe(false)
  })

  it('makes assertOpen throw ClosedError', () => {
    const segment = Segment.create(KIND, 64)
    segment.assertOpen('the test segment')
    segment.close()
    const error = thrown(() => segment.assertOpen('the test segment'))
    expect(error).toBeInstanceOf(ClosedError)
    expect(error.message).toBe('Cannot use the test segment: it was closed')
  })
})

describe('Segment#unlink()', () => {
  it('removes the name at once; attached objects keep working', () => {
    const segment = Segment.create(KIND, 64)
    const other = Segment.open(KIND, segment.name)
    segment.unlink()
    expect(existsSync(shmPath(segment.name))).toBe(false)
    expect(() => Segment.open(KIND, segment.name)).toThrow(NotFoundError)
    Atomics.store(segment.i32, segment.dataOffset / 4, 5)
    expect(Atomics.load(other.i32, other.dataOffset / 4)).toBe(5)
    // A new segment may take the name; closing the old ones leaves it alone.
    const reused = Segment.create(KIND, 64, { name: segment.name })
    segment.close()
    other.close()
    expect(existsSync(shmPath(segment.name))).toBe(true)
    reused.close()
    expect(existsSync(shmPath(segment.name))).toBe(false)
  })
})

describe('Segment#reap()', () => {
  it('frees the slot of a dead process once, calling onReap first', () => {
    const reaped: number[] = []
    const segment = Segment.create(KIND, 64, { name: uniqueName(), onReap: (slot) => reaped.push(slot) })
    onTestFinished(() => segment.close())
    // A process that has exited: its pid is not running (or runs with another start time).
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid as number
    const slot = 100
    const base = (64 + slot * 32) / 4
    new Float64Array(segment.buffer, 0, HEADER_BYTES / 8)[base / 2 + 1] = 12345
    Atomics.store(segment.i32, base, deadPid)
    expect(segment.slotOwner(slot)?.pid).toBe(deadPid)
    expect(segment.slotAlive(slot)).toBe(false)
    expect(segment.slotAlive(segment.slot)).toBe(true)
    expect(segment.reap()).toBe(1)
    expect(reaped).toEqual([slot])
    expect(segment.slotOwner(slot)).toBeUndefined()
    expect(segment.reap()).toBe(0)
    expect(reaped).toEqual([slot])
  })

  it('records the PID namespace and boot id of each holder in its slot', () => {
    const segment = created()
    const me = selfIdentity()
    const base = (64 + segment.slot * 32) / 4
    expect(me.pidNamespace).toBeGreaterThan(0)
    expect(Atomics.load(segment.i32, base + 4) >>> 0).toBe(me.pidNamespace)
    expect([Atomics.load(segment.i32, base + 6), Atomics.load(segment.i32, base + 7)]).toEqual(me.bootId)
    expect(segment.slotOwner(segment.slot)?.visible).toBe(true)
  })

  it('never reaps a holder of another PID namespace (even with a pid dead here); reaps one of another boot', () => {
    const reaped: number[] = []
    const segment = Segment.create(KIND, 64, { name: uniqueName(), onReap: (slot) => reaped.push(slot) })
    onTestFinished(() => segment.close())
    const me = selfIdentity()
    const f64 = new Float64Array(segment.buffer, 0, HEADER_BYTES / 8)
    const fill = (slot: number, pid: number, startTime: number, namespace: number, boot: readonly number[]) => {
      const base = (64 + slot * 32) / 4
      f64[base / 2 + 1] = startTime
      Atomics.store(segment.i32, base + 1, pid)
      Atomics.store(segment.i32, base + 4, namespace | 0)
      Atomics.store(segment.i32, base + 6, boot[0] as number)
      Atomics.store(segment.i32, base + 7, boot[1] as number)
      Atomics.store(segment.i32, base, pid)
    }
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid as number
    const otherBoot = [me.bootId[0] ^ 1, me.bootId[1]]
    // Another namespace, a pid that means nothing here: alive, never reaped.
    fill(10, deadPid, 12345, me.pidNamespace + 1, me.bootId)
    // Another boot, though its pid and start time are this very process's: dead.
    fill(11, process.pid, me.startTime, me.pidNamespace, otherBoot)
    // Another namespace and another boot: dead.
    fill(12, deadPid, 12345, me.pidNamespace + 1, otherBoot)
    expect(segment.slotOwner(10)?.visible).toBe(false)
    expect(segment.slotAlive(10)).toBe(true)
    expect(segment.slotAlive(11)).toBe(false)
    expect(segment.slotAlive(12)).toBe(false)
    expect(segment.reap()).toBe(2)
    expect(reaped.sort((a, b) => a - b)).toEqual([11, 12])
    expect(segment.slotOwner(10)?.pid).toBe(deadPid)
    // A slot in transition by a process of another namespace counts alive too.
    Atomics.store(segment.i32, (64 + 10 * 32) / 4, -deadPid)
    expect(segment.slotAlive(10)).toBe(true)
    Atomics.store(segment.i32, (64 + 10 * 32) / 4, 0)
  })
})

describe('Segment.open() on a full table', () => {
  it('reaps the dead slots with onReap, each once, and attaches in one of them', () => {
    const reaped: Array<[number, number]> = []
    const onReap = (slot: number, seg: Segment) => reaped.push([slot, seg.slot])
    const segment = Segment.create(KIND, 64, { name: uniqueName(), onReap })
    const f64 = new Float64Array(segment.buffer, 0, HEADER_BYTES / 8)
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid as number
    const dead = [7, 40, 127]
    // Fill every other slot: three with an exited process, the rest with this one.
    for (let slot = 0; slot < 128; slot++) {
      if (slot === segment.slot) continue
      const base = (64 + slot * 32) / 4
      const isDead = dead.includes(slot)
      f64[base / 2 + 1] = isDead ? 12345 : processStartTime(process.pid)
      Atomics.store(segment.i32, base, isDead ? deadPid : process.pid)
    }
    let other: Segment | undefined
    onTestFinished(() => {
      other?.close()
      // The fake attachers leave before the real ones, so the last close unlinks.
      for (let slot = 0; slot < 128; slot++)
        if (slot !== segment.slot) Atomics.store(segment.i32, (64 + slot * 32) / 4, 0)
      segment.close()
    })
    other = Segment.open(KIND, segment.name, { onReap })
    // Every dead slot was reaped once, and the opener's object was the one passed to onReap.
    expect(reaped.map(([slot]) => slot).sort((a, b) => a - b)).toEqual(dead)
    for (const [, seenBy] of reaped) expect(seenBy).toBe(other.slot)
    expect(dead).toContain(other.slot)
    expect(other.slotOwner(other.slot)?.pid).toBe(process.pid)
    for (const slot of dead) if (slot !== other.slot) expect(segment.slotOwner(slot)).toBeUndefined()
    expect(segment.reap()).toBe(0)
    // Now the table is full of live objects: one more open fails and takes nothing.
    for (const slot of dead) {
      if (slot === other.slot) continue
      const base = (64 + slot * 32) / 4
      f64[base / 2 + 1] = processStartTime(process.pid)
      Atomics.store(segment.i32, base, process.pid)
    }
    const error = thrown(() => Segment.open(KIND, segment.name))
    expect(error).toBeInstanceOf(IpcError)
    expect(error.message).toBe(`Cannot open test segment "${segment.name}": 128 objects are attached to it already`)
    expect(reaped).toHaveLength(dead.length)
  })
})

describe('segments of a worker thread', () => {
  it('are closed (and unlinked) when the thread exits without closing them', { timeout: 10_000 }, async () => {
    const name = uniqueName()
    const worker = new Worker(new URL('../../test/fixtures/thread-segment.mjs', import.meta.url), { workerData: name })
    onTestFinished(async () => {
      await worker.terminate()
    })
    const code = await new Promise((resolve) => worker.on('exit', resolve))
    expect(code).toBe(0)
    expect(existsSync(shmPath(name))).toBe(false)
  })
})
